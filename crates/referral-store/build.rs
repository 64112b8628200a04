// `postgres_tests` marks a build whose tests can reach PostgreSQL: without it the PostgreSQL
// variants of `both_databases!` are compiled as ignored, and libtest counts them as such.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo::rerun-if-env-changed=TEST_DATABASE_URL");
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|url| !url.trim().is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
    // Embedded migrations are read at compile time: rebuild when one is added or changed.
    println!("cargo:rerun-if-changed=../../migrations");
}
