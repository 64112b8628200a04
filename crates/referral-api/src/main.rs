//! The referral service binary. The HTTP server arrives with the API issue; for now it
//! reports what it is.

fn main() {
    println!("referral-api {}", env!("CARGO_PKG_VERSION"));
}
