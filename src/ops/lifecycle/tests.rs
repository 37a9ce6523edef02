//! The lifecycle's unit tests: refusals, the outbox's caps, and delivery details.

use super::*;
use crate::auth::Caller;
use crate::fixtures::FixtureSource;
use crate::ids::IdSource;

const CAMPAIGN: &str = "60000000-0000-4000-8000-000000000001";
const REQUESTOR1: &str = "20000000-0000-4000-8000-000000000005";
const MARKETING: &str = "30000000-0000-4000-8000-000000000001";

fn setup() -> (TenantState, Caller, Timestamp) {
    let now = Timestamp::parse("2026-03-01T09:00:00Z").unwrap();
    let state = FixtureSource::EmbeddedDefault
        .load()
        .unwrap()
        .build_state(IdSource::Seeded(5).generator(1), now);
    let tenant = state.info.id;
    (state, Caller::unauthenticated(tenant), now)
}

fn admin_add(target: &str) -> NewRequest {
    NewRequest {
        request_type: RequestType::AdminAdd,
        request_type_text: "adminAdd".into(),
        package_id: Some(CAMPAIGN.parse().unwrap()),
        policy_id: None,
        target_id: Some(target.parse().unwrap()),
        target_email: None,
        assignment_id: None,
        justification: None,
        answers: Vec::new(),
        schedule: None,
        validation_only: false,
    }
}

#[test]
fn a_request_is_delivered_by_the_next_pass_and_expires_with_the_clock() {
    let (mut s, caller, now) = setup();
    let ctx = OpCtx {
        caller: &caller,
        now,
    };
    let request = submit(&mut s, &ctx, admin_add(REQUESTOR1)).unwrap();
    assert_eq!(request.state, RequestState::Submitted);
    let user: Uuid = REQUESTOR1.parse().unwrap();
    let group: Uuid = MARKETING.parse().unwrap();
    assert!(
        !granted(&s, &group, "Member_").contains(&user),
        "nothing is granted before processing"
    );
    process_due(&mut s, now);
    let delivered = s.requests.get(&request.id).unwrap();
    assert_eq!(delivered.state, RequestState::Delivered);
    assert!(granted(&s, &group, "Member_").contains(&user));
    // The campaign policy grants P30D: the deadline is the next due item, and passing it expires.
    // The near-expiry warnings come first; the end itself is the last thing due.
    let warning = next_deadline(&s).expect("an expiring assignment has a deadline");
    process_due(&mut s, warning);
    assert!(
        s.assignments
            .iter()
            .all(|a| a.state == AssignmentState::Delivered)
    );
    let due = s.assignments.iter().find_map(|a| a.ends).expect("it ends");
    process_due(&mut s, due.plus(std::time::Duration::from_secs(1)));
    assert!(
        s.assignments
            .iter()
            .all(|a| a.state == AssignmentState::Expired)
    );
    assert!(!granted(&s, &group, "Member_").contains(&user));
}

#[test]
fn the_outbox_keeps_the_most_recent_notices() {
    let (mut s, _, now) = setup();
    let package: Uuid = CAMPAIGN.parse().unwrap();
    for _ in 0..OUTBOX_CAPACITY + 5 {
        notify(
            &mut s,
            now,
            "requestSubmitted",
            package,
            None,
            None,
            None,
            Vec::new(),
        );
    }
    assert_eq!(s.outbox.len(), OUTBOX_CAPACITY);
    let first = s.outbox.front().map(|n| n.sequence);
    let last = s.outbox.back().map(|n| n.sequence);
    assert_eq!((first, last), (Some(6), Some(OUTBOX_CAPACITY as u64 + 5)));
}

/// Issue 19: a notice names every approver of its stage, so under a count cap alone 10,000
/// notices to a large group were gigabytes.
#[test]
fn the_outbox_stays_within_its_byte_cap_however_many_approvers_a_notice_names() {
    let (mut s, _, now) = setup();
    let package: Uuid = CAMPAIGN.parse().unwrap();
    let approvers = vec![Uuid::nil(); 2_000];
    for _ in 0..1_000 {
        notify(
            &mut s,
            now,
            "approvalRequired",
            package,
            None,
            None,
            None,
            approvers.clone(),
        );
        assert!(s.outbox.bytes() <= OUTBOX_BYTES);
    }
    let kept = s.outbox.len();
    assert!(kept > 100 && kept < 1_000, "{kept} kept");
    assert_eq!(s.outbox.back().map(|n| n.sequence), Some(1_000));
    assert_eq!(s.outbox.back().map(|n| n.recipients.len()), Some(2_000));
}

#[test]
fn a_second_add_for_the_same_target_is_refused_and_validation_stores_nothing() {
    let (mut s, caller, now) = setup();
    let ctx = OpCtx {
        caller: &caller,
        now,
    };
    let mut dry = admin_add(REQUESTOR1);
    dry.validation_only = true;
    submit(&mut s, &ctx, dry).unwrap();
    assert_eq!(
        s.requests.iter().count(),
        0,
        "isValidationOnly stores nothing"
    );
    submit(&mut s, &ctx, admin_add(REQUESTOR1)).unwrap();
    process_due(&mut s, now);
    let again = submit(&mut s, &ctx, admin_add(REQUESTOR1)).unwrap_err();
    assert_eq!(again.code(), "ExistingAssignment");
}
