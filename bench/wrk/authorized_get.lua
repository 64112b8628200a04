-- GET the URL given to wrk with the admin token (analytics).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_ADMIN_TOKEN")
