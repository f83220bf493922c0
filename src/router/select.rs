//! The order an alias's deployments are tried in (LiteLLM's `routing_strategy` and
//! `order`), as a pure function of each candidate's figures, a rotation counter and a
//! random source.
//!
//! Ready deployments come first, cooling ones last (they are used only when nothing else
//! can serve). Among the ready ones, the lowest `order` group goes first (deployments
//! without `order` come after every ordered one, as in LiteLLM); within a group the
//! strategy picks the first and the rest follow, so a retry moves to the next best.

use crate::config::RoutingStrategy;

/// What the strategy knows about one deployment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Candidate {
    pub order: Option<u32>,
    /// Its share for `simple-shuffle` (`weight`, else `rpm`, else `tpm`); `None` when the
    /// alias's deployments share evenly.
    pub share: Option<f64>,
    pub in_flight: u32,
    /// Recent latency in microseconds; 0 when unknown (tried first, to learn it).
    pub latency_us: u64,
    /// Tokens used in the current minute.
    pub tokens: u64,
    pub cooling: bool,
}

/// Positions of `candidates` in the order to try them. `rotation` spreads ties (and even
/// shares) across requests; `random` yields numbers in `[0, 1)`; `buffer` is
/// `lowest_latency_buffer`.
pub fn arrange(
    strategy: RoutingStrategy,
    candidates: &[Candidate],
    rotation: usize,
    buffer: f64,
    random: &mut dyn FnMut() -> f64,
) -> Vec<usize> {
    let n = candidates.len();
    let mut out = Vec::with_capacity(n);
    if n <= 1 {
        out.extend(0..n);
        return out;
    }
    // Rotated, so ties and even shares take turns.
    let start = rotation % n;
    let rotated = (0..n).map(|k| (start + k) % n);
    let rank = |i: usize| (candidates[i].cooling, candidates[i].order.unwrap_or(u32::MAX));
    let mut idx: Vec<usize> = rotated.collect();
    idx.sort_by_key(|&i| rank(i));
    // Each run of equal rank is one group; arrange it by the strategy.
    let mut from = 0;
    while from < n {
        let key = rank(idx[from]);
        let to = from + idx[from..].iter().take_while(|&&i| rank(i) == key).count();
        let group = &mut idx[from..to];
        if !key.0 {
            by_strategy(strategy, candidates, group, buffer, random);
        }
        out.extend_from_slice(group);
        from = to;
    }
    out
}

fn by_strategy(
    strategy: RoutingStrategy,
    c: &[Candidate],
    group: &mut [usize],
    buffer: f64,
    random: &mut dyn FnMut() -> f64,
) {
    if group.len() < 2 {
        return;
    }
    match strategy {
        RoutingStrategy::SimpleShuffle => {
            let total: f64 = group.iter().map(|&i| c[i].share.unwrap_or(0.0)).sum();
            if group.iter().all(|&i| c[i].share.is_none()) || total <= 0.0 {
                return; // even shares: the rotation already took turns
            }
            let mut target = random() * total;
            let mut pick = group.len() - 1;
            for (k, &i) in group.iter().enumerate() {
                let share = c[i].share.unwrap_or(0.0);
                if target < share {
                    pick = k;
                    break;
                }
                target -= share;
            }
            group[..=pick].rotate_right(1);
        }
        RoutingStrategy::LeastBusy => group.sort_by_key(|&i| c[i].in_flight),
        RoutingStrategy::UsageBased => group.sort_by_key(|&i| c[i].tokens),
        RoutingStrategy::LatencyBased => {
            group.sort_by_key(|&i| c[i].latency_us);
            let lowest = c[group[0]].latency_us as f64;
            let within = group
                .iter()
                .take_while(|&&i| c[i].latency_us as f64 <= lowest * (1.0 + buffer))
                .count();
            let pick = ((random() * within as f64) as usize).min(within - 1);
            group[..=pick].rotate_right(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(s: &[Option<f64>]) -> Vec<Candidate> {
        s.iter().map(|&share| Candidate { share, ..Candidate::default() }).collect()
    }

    /// How often each candidate goes first over `picks` requests, with a seeded generator.
    fn first_counts(strategy: RoutingStrategy, c: &[Candidate], picks: usize) -> Vec<usize> {
        let mut rng = fastrand::Rng::with_seed(17);
        let mut counts = vec![0; c.len()];
        for r in 0..picks {
            let order = arrange(strategy, c, r, 0.0, &mut || rng.f64());
            assert_eq!(order.len(), c.len());
            counts[order[0]] += 1;
        }
        counts
    }

    #[test]
    fn weights_share_the_first_pick_within_tolerance() {
        let picks = 20_000;
        // weight 1 : 3 : 0 (a standby).
        let counts = first_counts(
            RoutingStrategy::SimpleShuffle,
            &shares(&[Some(1.0), Some(3.0), Some(0.0)]),
            picks,
        );
        let frac = |n: usize| n as f64 / picks as f64;
        assert!((frac(counts[0]) - 0.25).abs() < 0.02, "{counts:?}");
        assert!((frac(counts[1]) - 0.75).abs() < 0.02, "{counts:?}");
        assert_eq!(counts[2], 0, "weight 0 never goes first: {counts:?}");
        // Even shares take turns exactly.
        let counts =
            first_counts(RoutingStrategy::SimpleShuffle, &shares(&[None, None, None, None]), 400);
        assert_eq!(counts, vec![100; 4]);
    }

    #[test]
    fn order_groups_come_first_and_cooling_last() {
        let c = vec![
            Candidate { order: Some(2), ..Candidate::default() },
            Candidate { order: None, ..Candidate::default() },
            Candidate { order: Some(1), cooling: true, ..Candidate::default() },
            Candidate { order: Some(1), ..Candidate::default() },
            Candidate { order: Some(2), ..Candidate::default() },
        ];
        for r in 0..10 {
            let order = arrange(RoutingStrategy::SimpleShuffle, &c, r, 0.0, &mut || 0.5);
            assert_eq!(order[0], 3, "{order:?}");
            assert!(order[1] == 0 || order[1] == 4, "{order:?}");
            assert_eq!(order[3], 1, "no order after every ordered one: {order:?}");
            assert_eq!(order[4], 2, "cooling last: {order:?}");
        }
    }

    #[test]
    fn least_busy_usage_and_latency_pick_the_lowest() {
        let c = |f: &dyn Fn(usize) -> Candidate| (0..4).map(f).collect::<Vec<_>>();
        let busy = c(&|i| Candidate { in_flight: [3, 1, 2, 5][i], ..Candidate::default() });
        assert_eq!(
            arrange(RoutingStrategy::LeastBusy, &busy, 7, 0.0, &mut || 0.0),
            vec![1, 2, 0, 3]
        );
        let used = c(&|i| Candidate { tokens: [900, 50, 700, 60][i], ..Candidate::default() });
        assert_eq!(
            arrange(RoutingStrategy::UsageBased, &used, 0, 0.0, &mut || 0.0),
            vec![1, 3, 2, 0]
        );
        let slow = c(&|i| Candidate { latency_us: [800, 100, 0, 105][i], ..Candidate::default() });
        assert_eq!(
            arrange(RoutingStrategy::LatencyBased, &slow, 0, 0.0, &mut || 0.99)[0],
            2,
            "an unknown latency is tried first"
        );
        let known =
            c(&|i| Candidate { latency_us: [800, 100, 300, 105][i], ..Candidate::default() });
        let mut firsts = [0; 4];
        for k in 0..100 {
            let r = k as f64 / 100.0;
            firsts[arrange(RoutingStrategy::LatencyBased, &known, k, 0.1, &mut || r)[0]] += 1;
        }
        assert_eq!(firsts, [0, 50, 0, 50], "within 10% of the lowest, picked at random");
        // Ties on the strategy's figure take turns.
        let idle = c(&|_| Candidate::default());
        let mut firsts = [0; 4];
        for r in 0..8 {
            firsts[arrange(RoutingStrategy::LeastBusy, &idle, r, 0.0, &mut || 0.0)[0]] += 1;
        }
        assert_eq!(firsts, [2; 4]);
    }
}
