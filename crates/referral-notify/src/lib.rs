//! Templates and delivery of referral email and SMS.
