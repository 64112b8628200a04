DROP TABLE unsubscribes;
