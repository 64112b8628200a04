//! How a batch of platform events is applied: one patient's events in the order sent,
//! different patients' side by side. [`lanes`] splits a batch into at most `lanes` lists of
//! positions, each patient's positions all in one list and in the order they came, so that
//! the lists may run at the same time without reordering anybody's events.

use std::collections::HashMap;
use std::hash::Hash;

/// Most events one batch request carries.
pub const MAX_BATCH_EVENTS: usize = 1_000;

/// The positions of `patients` (a batch's events, by the patient each is about) split into
/// at most `lanes` lists (one at least, none empty): every position exactly once, one
/// patient's positions in one list and increasing. Patients are dealt to the lanes in the
/// order they first appear, to the lane with the fewest events so far.
pub fn lanes<P: Eq + Hash>(patients: &[P], lanes: usize) -> Vec<Vec<usize>> {
    let count = lanes.clamp(1, patients.len().max(1));
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut lane_of: HashMap<&P, usize> = HashMap::new();
    let mut events_of: HashMap<&P, usize> = HashMap::new();
    for patient in patients {
        *events_of.entry(patient).or_default() += 1;
    }
    let mut load = vec![0usize; count];
    for (position, patient) in patients.iter().enumerate() {
        let lane = match lane_of.get(patient) {
            Some(&lane) => lane,
            None => {
                let lane = (0..count).min_by_key(|&l| (load[l], l)).unwrap_or(0);
                load[lane] += events_of.get(patient).copied().unwrap_or(1);
                lane_of.insert(patient, lane);
                lane
            }
        };
        if let Some(list) = out.get_mut(lane) {
            list.push(position);
        }
    }
    out.retain(|list| !list.is_empty());
    out
}

/// The first position whose event id was already used in the batch for another patient:
/// such a batch is refused whole, since whichever patient came second would silently read
/// as a duplicate of the first. `events` holds each event's (id, patient).
pub fn id_shared_between_patients<I: Eq + Hash, P: Eq>(events: &[(I, P)]) -> Option<usize> {
    let mut first: HashMap<&I, &P> = HashMap::new();
    for (position, (id, patient)) in events.iter().enumerate() {
        match first.get(id) {
            Some(owner) if *owner != patient => return Some(position),
            Some(_) => {}
            None => {
                first.insert(id, patient);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_used_for_two_patients_is_found_and_a_repeat_is_not() {
        assert_eq!(
            id_shared_between_patients(&[(1, 'a'), (2, 'b'), (1, 'a')]),
            None
        );
        assert_eq!(
            id_shared_between_patients(&[(1, 'a'), (2, 'b'), (1, 'c')]),
            Some(2)
        );
        assert_eq!(id_shared_between_patients::<u8, char>(&[]), None);
    }

    proptest::proptest! {
        /// Found exactly when some id appears with two patients, at the second's position.
        #[test]
        fn shared_ids_are_found(events in proptest::collection::vec((0u8..6, 0u8..3), 0..30)) {
            let found = id_shared_between_patients(&events);
            let expected = events.iter().enumerate().position(|(i, (id, p))| {
                events[..i].iter().any(|(other, q)| other == id && q != p)
            });
            proptest::prop_assert_eq!(found, expected);
        }
    }
    use proptest::prelude::*;

    #[test]
    fn one_patient_stays_in_one_lane_in_order() {
        let batch = ["a", "b", "a", "c", "b", "a"];
        let split = lanes(&batch, 4);
        assert_eq!(split, vec![vec![0, 2, 5], vec![1, 4], vec![3]]);
        assert_eq!(lanes(&batch, 1), vec![vec![0, 1, 2, 3, 4, 5]]);
        assert!(lanes::<&str>(&[], 4).is_empty());
    }

    proptest! {
        #[test]
        fn every_event_once_and_each_patients_in_order(
            batch in proptest::collection::vec(0u8..20, 0..300),
            count in 0usize..8,
        ) {
            let split = lanes(&batch, count);
            prop_assert!(split.len() <= count.max(1));
            let mut seen: Vec<usize> = split.iter().flatten().copied().collect();
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..batch.len()).collect::<Vec<_>>());
            for list in &split {
                prop_assert!(!list.is_empty());
                prop_assert!(list.windows(2).all(|w| w[0] < w[1]));
            }
            for patient in 0u8..20 {
                let holding = split
                    .iter()
                    .filter(|list| list.iter().any(|&i| batch[i] == patient))
                    .count();
                prop_assert!(holding <= 1, "patient {} in {} lanes", patient, holding);
            }
        }
    }
}
