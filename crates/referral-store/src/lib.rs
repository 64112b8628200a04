//! Diesel repositories and transactional use cases of the referral service.
