//! Program experiments (A/B tests): variants with weights and overrides, the deterministic
//! assignment of a referrer to a variant, and the two-proportion z-test that says whether a
//! variant's conversion rate leads.
//!
//! ```
//! use referral_domain::experiment::{compare, Proportion};
//!
//! let result = compare(
//!     &[("control".into(), Proportion::new(150, 1000)), ("bigger bonus".into(), Proportion::new(200, 1000))],
//!     0.05,
//! );
//! assert_eq!(result.leader.as_deref(), Some("bigger bonus"));
//! ```

use crate::{FieldError, Money, PatientId, ProgramId};
use bigdecimal::BigDecimal;
use serde::{Deserialize, Serialize};

/// Most variants a program may have.
pub const MAX_VARIANTS: usize = 10;
/// Most characters of a variant name.
pub const MAX_VARIANT_NAME_CHARS: usize = 50;
/// Most characters of an invitation headline.
pub const MAX_HEADLINE_CHARS: usize = 200;
/// Largest relative weight of a variant.
pub const MAX_VARIANT_WEIGHT: u32 = 1000;

/// A variant as a provider submits it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantDraft {
    /// Unique name in the program, 1 to 50 characters.
    pub name: String,
    /// Share of referrers, relative to the other variants' weights (1..=1000).
    #[serde(default = "default_weight")]
    pub weight: i64,
    /// Referrer reward value instead of the program's (same reward type).
    #[serde(default)]
    pub referrer_reward_value: Option<BigDecimal>,
    /// Referee reward value instead of the program's (same reward type).
    #[serde(default)]
    pub referee_reward_value: Option<BigDecimal>,
    /// Headline of the invitation instead of the default one.
    #[serde(default)]
    pub invitation_headline: Option<String>,
}

fn default_weight() -> i64 {
    1
}

/// A validated variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    /// Unique name in the program.
    pub name: String,
    /// Relative share of referrers.
    pub weight: u32,
    /// Referrer reward value override.
    pub referrer_reward_value: Option<Money>,
    /// Referee reward value override.
    pub referee_reward_value: Option<Money>,
    /// Invitation headline override.
    pub invitation_headline: Option<String>,
}

/// Validates a program's variants; `parse_value` checks a reward override against the
/// program's reward of that party (`true` for the referrer).
pub(crate) fn validate_variants(
    drafts: &[VariantDraft],
    mut parse_value: impl FnMut(bool, &BigDecimal, &mut Vec<FieldError>) -> Option<Money>,
    errors: &mut Vec<FieldError>,
) -> Vec<Variant> {
    if drafts.len() == 1 || drafts.len() > MAX_VARIANTS {
        errors.push(FieldError::VariantCount);
    }
    let mut names = std::collections::HashSet::new();
    let mut variants = Vec::new();
    for draft in drafts {
        let name = draft.name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_VARIANT_NAME_CHARS
            || !names.insert(name.to_owned())
        {
            errors.push(FieldError::VariantName);
        }
        let weight = match u32::try_from(draft.weight) {
            Ok(w) if (1..=MAX_VARIANT_WEIGHT).contains(&w) => w,
            _ => {
                errors.push(FieldError::VariantWeight);
                1
            }
        };
        let headline = draft
            .invitation_headline
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty());
        if headline.is_some_and(|h| h.chars().count() > MAX_HEADLINE_CHARS) {
            errors.push(FieldError::VariantHeadlineTooLong);
        }
        variants.push(Variant {
            name: name.to_owned(),
            weight,
            referrer_reward_value: draft
                .referrer_reward_value
                .as_ref()
                .and_then(|v| parse_value(true, v, errors)),
            referee_reward_value: draft
                .referee_reward_value
                .as_ref()
                .and_then(|v| parse_value(false, v, errors)),
            invitation_headline: headline.map(str::to_owned),
        });
    }
    variants
}

/// FNV-1a, 64 bits: a fixed, documented hash, so the assignment is the same in every
/// service and every release (std's hasher is neither).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The variant of `referrer` in `program`: the same every time, spread over the variants
/// in proportion to their weights. `None` when the program has no variants.
pub fn assign(variants: &[Variant], program: ProgramId, referrer: PatientId) -> Option<&Variant> {
    let total: u64 = variants.iter().map(|v| u64::from(v.weight)).sum();
    if total == 0 {
        return None;
    }
    let mut key = program.as_uuid().as_bytes().to_vec();
    key.extend_from_slice(referrer.as_uuid().as_bytes());
    let mut point = fnv1a(&key) % total;
    for variant in variants {
        let weight = u64::from(variant.weight);
        if point < weight {
            return Some(variant);
        }
        point -= weight;
    }
    variants.last()
}

/// Successes out of trials (conversions out of referrals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proportion {
    /// Successes.
    pub successes: u64,
    /// Trials.
    pub trials: u64,
}

impl Proportion {
    /// `successes` of `trials`.
    pub const fn new(successes: u64, trials: u64) -> Self {
        Proportion { successes, trials }
    }

    /// The rate in [0, 1]; 0 with no trials.
    #[allow(clippy::cast_precision_loss)]
    pub fn rate(self) -> f64 {
        if self.trials == 0 {
            0.0
        } else {
            self.successes as f64 / self.trials as f64
        }
    }
}

/// The outcome of a two-proportion z-test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ZTest {
    /// The z statistic of `a − b` (positive when `a` converts better).
    pub z: f64,
    /// The two-sided p-value.
    pub p_value: f64,
}

/// The pooled two-proportion z-test of `a` against `b`. `None` when either has no trials or
/// the pooled rate is 0 or 1 (no variance: the test says nothing).
#[allow(clippy::cast_precision_loss)]
pub fn two_proportion_z_test(a: Proportion, b: Proportion) -> Option<ZTest> {
    if a.trials == 0 || b.trials == 0 {
        return None;
    }
    let (na, nb) = (a.trials as f64, b.trials as f64);
    let pooled = (a.successes + b.successes) as f64 / (na + nb);
    let variance = pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb);
    if variance <= 0.0 {
        return None;
    }
    let z = (a.rate() - b.rate()) / variance.sqrt();
    Some(ZTest {
        z,
        p_value: erfc(z.abs() / std::f64::consts::SQRT_2),
    })
}

/// The complementary error function (Numerical Recipes' Chebyshev fit, relative error below
/// 1.2e-7 everywhere): enough for p-values.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// How a variant does against the control (the program's first variant): the difference
/// of conversion rates with its 95% confidence interval, and the p-value of the pooled
/// two-proportion z-test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Lift {
    /// Variant rate minus control rate, in percentage points.
    pub points: f64,
    /// The same relative to the control's rate, in percent (`None` when the control
    /// converted no one).
    pub relative_percent: Option<f64>,
    /// Lower end of the 95% confidence interval of `points` (Wald, unpooled).
    pub ci_low: f64,
    /// Upper end of it.
    pub ci_high: f64,
    /// Two-sided p-value against the control (`None` when the test says nothing: no
    /// variance).
    pub p_value: Option<f64>,
}

/// z for a two-sided 95% interval.
const Z_95: f64 = 1.959_963_984_540_054;

/// The lift of `variant` over `control`; `None` when either has no trials.
pub fn lift_over_control(control: Proportion, variant: Proportion) -> Option<Lift> {
    if control.trials == 0 || variant.trials == 0 {
        return None;
    }
    let (pc, pv) = (control.rate(), variant.rate());
    #[allow(clippy::cast_precision_loss)]
    let se =
        (pc * (1.0 - pc) / control.trials as f64 + pv * (1.0 - pv) / variant.trials as f64).sqrt();
    let diff = pv - pc;
    Some(Lift {
        points: diff * 100.0,
        relative_percent: (pc > 0.0).then(|| diff / pc * 100.0),
        ci_low: (diff - Z_95 * se) * 100.0,
        ci_high: (diff + Z_95 * se) * 100.0,
        p_value: two_proportion_z_test(variant, control).map(|t| t.p_value),
    })
}

/// One variant's standing in an experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantResult {
    /// Variant name.
    pub name: String,
    /// Its conversions.
    pub proportion: Proportion,
    /// The test against the leading variant (`None` for the leader itself or without data).
    pub against_leader: Option<ZTest>,
}

/// An experiment's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentResult {
    /// Every variant, as given.
    pub variants: Vec<VariantResult>,
    /// The variant with the best rate, when it beats every other at significance `alpha`.
    pub leader: Option<String>,
}

/// Compares variants: the one with the highest conversion rate leads when its z-test
/// against each other variant has a p-value below `alpha`; otherwise none leads yet.
pub fn compare(variants: &[(String, Proportion)], alpha: f64) -> ExperimentResult {
    let best = variants
        .iter()
        .enumerate()
        .filter(|(_, (_, p))| p.trials > 0)
        .max_by(|(_, (_, a)), (_, (_, b))| a.rate().total_cmp(&b.rate()))
        .map(|(i, _)| i);
    let results: Vec<VariantResult> = variants
        .iter()
        .enumerate()
        .map(|(i, (name, proportion))| VariantResult {
            name: name.clone(),
            proportion: *proportion,
            against_leader: match best {
                Some(b) if b != i => two_proportion_z_test(variants[b].1, *proportion),
                _ => None,
            },
        })
        .collect();
    let leader = best.filter(|b| {
        variants.len() > 1
            && results
                .iter()
                .enumerate()
                .filter(|(i, _)| i != b)
                .all(|(_, r)| r.against_leader.is_some_and(|t| t.p_value < alpha))
    });
    ExperimentResult {
        leader: leader.map(|b| variants[b].0.clone()),
        variants: results,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn lift_matches_hand_computed_values() {
        // Control 150/1000 (15%), variant 200/1000 (20%): +5 points, +33.3% relative;
        // SE = sqrt(.15×.85/1000 + .2×.8/1000) = 0.0169558, CI = 5 ± 3.3233 points.
        let lift =
            lift_over_control(Proportion::new(150, 1000), Proportion::new(200, 1000)).unwrap();
        assert!(close(lift.points, 5.0, 1e-9), "{lift:?}");
        assert!(
            close(lift.relative_percent.unwrap(), 33.333, 1e-3),
            "{lift:?}"
        );
        assert!(
            close(lift.ci_low, 1.676_7, 1e-3) && close(lift.ci_high, 8.323_3, 1e-3),
            "{lift:?}"
        );
        assert!(close(lift.p_value.unwrap(), 0.003_257, 2e-6), "{lift:?}");
        assert!(lift_over_control(Proportion::new(0, 0), Proportion::new(1, 2)).is_none());
        let none = lift_over_control(Proportion::new(0, 10), Proportion::new(0, 10)).unwrap();
        assert_eq!(none.relative_percent, None);
        assert_eq!(none.p_value, None);
    }

    proptest::proptest! {
        /// The interval always holds the observed lift.
        #[test]
        fn the_interval_holds_the_lift(cs in 0u64..500, ct in 1u64..500, vs in 0u64..500, vt in 1u64..500) {
            let lift = lift_over_control(Proportion::new(cs.min(ct), ct), Proportion::new(vs.min(vt), vt)).unwrap();
            proptest::prop_assert!(lift.ci_low <= lift.points + 1e-9 && lift.points <= lift.ci_high + 1e-9);
            if let Some(p) = lift.p_value {
                proptest::prop_assert!((0.0..=1.0 + 1e-9).contains(&p));
            }
        }
    }

    #[test]
    fn z_test_matches_hand_computed_values() {
        // 200/1000 against 150/1000: pooled p = 0.175,
        // SE = sqrt(0.175 × 0.825 × (1/1000 + 1/1000)) = 0.0169926,
        // z = 0.05 / 0.0169926 = 2.94246, two-sided p = 2 × (1 − Φ(2.94246)) = 0.0032571.
        let t =
            two_proportion_z_test(Proportion::new(200, 1000), Proportion::new(150, 1000)).unwrap();
        assert!(close(t.z, 2.942_46, 1e-4), "{t:?}");
        assert!(close(t.p_value, 0.003_257, 2e-6), "{t:?}");
        // 30/100 against 25/100: pooled 0.275, SE = 0.063147, z = 0.79180, p = 0.42848.
        let t = two_proportion_z_test(Proportion::new(30, 100), Proportion::new(25, 100)).unwrap();
        assert!(close(t.z, 0.791_80, 1e-4), "{t:?}");
        assert!(close(t.p_value, 0.428_48, 1e-4), "{t:?}");
        // Symmetric.
        let back =
            two_proportion_z_test(Proportion::new(25, 100), Proportion::new(30, 100)).unwrap();
        assert!(close(back.z, -t.z, 1e-12) && close(back.p_value, t.p_value, 1e-12));
    }

    #[test]
    fn no_data_or_no_variance_says_nothing() {
        assert!(two_proportion_z_test(Proportion::new(0, 0), Proportion::new(1, 10)).is_none());
        assert!(two_proportion_z_test(Proportion::new(0, 10), Proportion::new(0, 10)).is_none());
        assert!(two_proportion_z_test(Proportion::new(10, 10), Proportion::new(5, 5)).is_none());
    }

    #[test]
    fn erfc_is_accurate() {
        for (x, expected) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122),
            (1.0, 0.157_299_207),
            (2.0, 0.004_677_735),
            (-1.0, 1.842_700_793),
        ] {
            assert!(close(erfc(x), expected, 2e-7), "erfc({x}) = {}", erfc(x));
        }
    }

    #[test]
    fn a_clear_winner_leads_and_a_close_race_has_no_leader() {
        let clear = compare(
            &[
                ("a".into(), Proportion::new(150, 1000)),
                ("b".into(), Proportion::new(200, 1000)),
            ],
            0.05,
        );
        assert_eq!(clear.leader.as_deref(), Some("b"));
        assert!(clear.variants[1].against_leader.is_none());
        let p = clear.variants[0].against_leader.unwrap().p_value;
        assert!(close(p, 0.003_257, 2e-6));

        let close_race = compare(
            &[
                ("a".into(), Proportion::new(25, 100)),
                ("b".into(), Proportion::new(30, 100)),
            ],
            0.05,
        );
        assert_eq!(close_race.leader, None);
        let empty = compare(&[("a".into(), Proportion::new(0, 0))], 0.05);
        assert_eq!(empty.leader, None);
    }

    #[test]
    fn assignment_is_deterministic_and_follows_the_weights() {
        let variants = vec![
            Variant {
                name: "a".into(),
                weight: 1,
                referrer_reward_value: None,
                referee_reward_value: None,
                invitation_headline: None,
            },
            Variant {
                name: "b".into(),
                weight: 3,
                referrer_reward_value: None,
                referee_reward_value: None,
                invitation_headline: None,
            },
        ];
        let program = ProgramId::new_random();
        let referrer = PatientId::new_random();
        let first = assign(&variants, program, referrer).unwrap().name.clone();
        for _ in 0..10 {
            assert_eq!(assign(&variants, program, referrer).unwrap().name, first);
        }
        let b = (0..4000)
            .filter(|_| {
                assign(&variants, program, PatientId::new_random())
                    .unwrap()
                    .name
                    == "b"
            })
            .count();
        assert!(
            (2800..3200).contains(&b),
            "{b} of 4000 in the weight-3 variant"
        );
        assert!(assign(&[], program, referrer).is_none());
    }
}
