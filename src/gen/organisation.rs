//! The organisation: centers, departments, teams and caseworkers, and how diligent each
//! unit that holds cases is.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::ids::{Entity, Ids};
use super::random::{pick, uniform};
use super::{CASEWORKERS_PER_SCALE, DEPARTMENTS_PER_SCALE, MIN_DEPARTMENTS};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Center {
    Vulnerable,
    Disability,
}

/// How reliably a unit meets each deadline (a probability per deadline).
#[derive(Clone, Copy)]
pub(super) struct Diligence {
    pub(super) plan: f64,
    pub(super) follow_up: f64,
    pub(super) investigation: f64,
}

/// A unit that holds cases (a department without teams, or a team).
pub(super) struct Leaf {
    pub(super) unit_id: String,
    pub(super) center: Center,
    pub(super) diligence: Diligence,
    pub(super) caseworkers: Vec<usize>,
}

pub(super) struct Organisation {
    pub(super) units: Vec<(String, String, Option<String>)>,
    /// (caseworker_id, name, unit_id)
    pub(super) caseworkers: Vec<(String, String, String)>,
    pub(super) leaves: Vec<Leaf>,
    /// Cumulative case weights of `leaves`, for picking a leaf per case.
    pub(super) cumulative_weight: Vec<f64>,
}

pub(super) static AREAS: &[&str] = &[
    "Amager",
    "Bispebjerg",
    "Brønshøj-Husum",
    "Indre By",
    "Nørrebro",
    "Østerbro",
    "Valby",
    "Vanløse",
    "Vesterbro",
    "Sydhavnen",
    "Christianshavn",
    "Nordvest",
    "Ørestad",
    "Sundby",
    "Kongens Enghave",
];
pub(super) static FIRST_NAMES: &[&str] = &[
    "Anne", "Mette", "Hanne", "Louise", "Camilla", "Sofie", "Maria", "Line", "Katrine", "Sara", "Ida", "Julie", "Lars",
    "Jens", "Peter", "Mads", "Rasmus", "Søren", "Anders", "Kasper", "Mikkel", "Thomas", "Ahmed", "Fatima",
];
pub(super) static LAST_NAMES: &[&str] = &[
    "Jensen",
    "Nielsen",
    "Hansen",
    "Pedersen",
    "Andersen",
    "Christensen",
    "Larsen",
    "Sørensen",
    "Rasmussen",
    "Jørgensen",
    "Petersen",
    "Madsen",
    "Kristensen",
    "Olsen",
    "Thomsen",
    "Poulsen",
    "Johansen",
    "Knudsen",
    "Møller",
];

/// One large department holds a third of all cases, as when departments are merged or a
/// municipality runs its cases in one place. The first leaf is always a whole department
/// (never a team): it gets half the weight of all the others together.
pub(super) fn skew_weights(weights: &mut [f64]) {
    let others: f64 = weights.iter().skip(1).sum();
    if let Some(first) = weights.first_mut() {
        *first = others / 2.0;
    }
}

pub(super) fn clamp01(x: f64) -> f64 {
    x.clamp(0.0, 1.0)
}

impl Organisation {
    pub(super) fn build(scale: f64, ids: Ids, skew: bool, rng: &mut ChaCha8Rng) -> Organisation {
        let mut units = Vec::new();
        let mut leaves = Vec::new();
        let mut weights = Vec::new();
        let mut next = 1u64;
        let mut new_unit = |units: &mut Vec<(String, String, Option<String>)>, name: String, parent: Option<&str>| {
            let id = ids.string(Entity::Unit, next);
            next += 1;
            units.push((id.clone(), name, parent.map(str::to_string)));
            id
        };

        let org = new_unit(&mut units, "Børne- og Ungdomsforvaltningen".into(), None);
        let vulnerable = new_unit(&mut units, "Center for Udsatte Børn og Unge".into(), Some(org.as_str()));
        let disability = new_unit(&mut units, "Center for Børn med Handicap".into(), Some(org.as_str()));
        // A staff unit without cases: units with no cases must still get their KPI rows.
        new_unit(&mut units, "Sekretariatet".into(), Some(org.as_str()));

        let departments = ((scale * DEPARTMENTS_PER_SCALE).round() as usize).max(MIN_DEPARTMENTS);
        for i in 0..departments {
            // Two thirds of the departments serve vulnerable children.
            let (center, center_id) =
                if i % 3 == 1 { (Center::Disability, &disability) } else { (Center::Vulnerable, &vulnerable) };
            let area = AREAS[i % AREAS.len()];
            let name = match i / AREAS.len() {
                0 => format!("Afdeling {area}"),
                k => format!("Afdeling {area} {}", k + 1),
            };
            let department = new_unit(&mut units, name.clone(), Some(center_id.as_str()));
            let quality = rng.random::<f64>();
            let size = uniform(rng, 0.6, 1.4);
            let diligence = Diligence {
                plan: 0.70 + 0.28 * quality,
                follow_up: 0.70 + 0.28 * quality,
                investigation: 0.77 + 0.21 * quality,
            };
            // Every fourth department is split into teams: a four-level tree.
            if i % 4 == 2 {
                for t in 1..=2 {
                    let team = new_unit(&mut units, format!("{name}, team {t}"), Some(department.as_str()));
                    let wobble = uniform(rng, -0.03, 0.03);
                    leaves.push(Leaf {
                        unit_id: team,
                        center,
                        diligence: Diligence {
                            plan: clamp01(diligence.plan + wobble),
                            follow_up: clamp01(diligence.follow_up + wobble),
                            investigation: clamp01(diligence.investigation + wobble),
                        },
                        caseworkers: Vec::new(),
                    });
                    weights.push(size / 2.0);
                }
                if i % 8 == 2 {
                    new_unit(&mut units, format!("{name}, team 3 (under oprettelse)"), Some(department.as_str()));
                }
            } else {
                leaves.push(Leaf { unit_id: department, center, diligence, caseworkers: Vec::new() });
                weights.push(size);
            }
        }

        if skew {
            skew_weights(&mut weights);
        }
        let mut cumulative_weight = Vec::with_capacity(weights.len());
        let mut sum = 0.0;
        for w in &weights {
            sum += w;
            cumulative_weight.push(sum);
        }

        let mut org = Organisation { units, caseworkers: Vec::new(), leaves, cumulative_weight };
        let wanted = ((scale * CASEWORKERS_PER_SCALE).round() as usize).max(org.leaves.len());
        for n in 0..wanted {
            // Every leaf gets one caseworker first, the rest follow the case load.
            let leaf = if n < org.leaves.len() { n } else { org.pick_leaf(rng) };
            let id = ids.string(Entity::Caseworker, n as u64 + 1);
            let name = format!("{} {}", pick(rng, FIRST_NAMES, "Anne"), pick(rng, LAST_NAMES, "Jensen"));
            org.leaves[leaf].caseworkers.push(org.caseworkers.len());
            org.caseworkers.push((id, name, org.leaves[leaf].unit_id.clone()));
        }
        org
    }

    pub(super) fn pick_leaf(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = self.cumulative_weight.last().copied().unwrap_or(0.0);
        let ticket = rng.random::<f64>() * total;
        self.cumulative_weight.partition_point(|&c| c <= ticket).min(self.leaves.len().saturating_sub(1))
    }
}
