DROP TABLE inbound_signatures;
