//! Properties of signing and verification over arbitrary inputs.

use std::collections::BTreeMap;

use proptest::prelude::*;
use vnpay::{
    HashSecret, QueryDrResponseBody, ReceivedQuery, RefundRequestBody, SignedBody, SignedQuery,
    SignedReply,
};

/// Names VNPay would sign: `vnp_` plus ASCII letters, digits and `_`.
fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_]{1,12}"
        .prop_map(|s| format!("vnp_{s}"))
        .prop_filter("hash fields are never signed", |n| {
            n != "vnp_SecureHash" && n != "vnp_SecureHashType"
        })
}

/// Any non-empty text, including spaces, `+`, `%`, `&`, `=` and non-ASCII characters.
fn value() -> impl Strategy<Value = String> {
    prop_oneof!["[ -~]{1,24}", "\\PC{1,12}", "[a-z +%&=#:/?]{1,16}",]
}

fn field_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(name(), value(), 1..10)
}

fn verify_map(map: &BTreeMap<String, String>, hash: &str, secret: &HashSecret) -> bool {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    ser.extend_pairs(map);
    ser.append_pair("vnp_SecureHash", hash);
    ReceivedQuery::parse(&ser.finish()).is_ok_and(|q| q.verify(secret).is_ok())
}

fn secret() -> HashSecret {
    HashSecret::new("property-secret")
}

fn pipe_fields() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[A-Za-z0-9 ]{1,10}", 13)
}

fn refund_body(v: &[String]) -> RefundRequestBody {
    RefundRequestBody {
        request_id: Some(v[0].clone()),
        version: Some(v[1].clone()),
        command: Some(v[2].clone()),
        tmn_code: Some(v[3].clone()),
        transaction_type: Some(v[4].clone()),
        txn_ref: Some(v[5].clone()),
        amount: Some(v[6].clone()),
        transaction_no: Some(v[7].clone()),
        transaction_date: Some(v[8].clone()),
        create_by: Some(v[9].clone()),
        create_date: Some(v[10].clone()),
        ip_addr: Some(v[11].clone()),
        order_info: Some(v[12].clone()),
        secure_hash: None,
    }
}

fn querydr_response(v: &[String]) -> QueryDrResponseBody {
    QueryDrResponseBody {
        response_id: Some(v[0].clone()),
        command: Some(v[1].clone()),
        response_code: Some("00".into()),
        message: Some(v[3].clone()),
        tmn_code: Some(v[4].clone()),
        txn_ref: Some(v[5].clone()),
        amount: Some("1000000".into()),
        bank_code: Some(v[7].clone()),
        pay_date: Some("20240521091806".into()),
        transaction_no: Some("14422574".into()),
        transaction_type: Some("01".into()),
        transaction_status: Some("00".into()),
        order_info: Some(v[12].clone()),
        ..Default::default()
    }
}

proptest! {
    #[test]
    fn a_signed_field_map_verifies_after_travelling_as_a_url_query(map in field_map()) {
        let signed = SignedQuery::sign(&map, &secret());
        let received = ReceivedQuery::parse(&signed.to_query());
        prop_assert_eq!(received.and_then(|q| q.verify(&secret())), Ok(()));
        prop_assert!(verify_map(&map, &signed.secure_hash, &secret()));
    }

    #[test]
    fn changing_any_single_value_breaks_verification(
        map in field_map(),
        pick in any::<prop::sample::Index>(),
        new_value in value(),
    ) {
        let signed = SignedQuery::sign(&map, &secret());
        let key = pick.get(&map.keys().cloned().collect::<Vec<_>>()).clone();
        prop_assume!(map[&key] != new_value);
        let mut tampered = map.clone();
        tampered.insert(key, new_value);
        prop_assert!(!verify_map(&tampered, &signed.secure_hash, &secret()));
    }

    #[test]
    fn dropping_any_field_breaks_verification(map in field_map(), pick in any::<prop::sample::Index>()) {
        let signed = SignedQuery::sign(&map, &secret());
        let key = pick.get(&map.keys().cloned().collect::<Vec<_>>()).clone();
        let mut shorter = map.clone();
        shorter.remove(&key);
        prop_assert!(!verify_map(&shorter, &signed.secure_hash, &secret()));
    }

    #[test]
    fn another_secret_never_verifies(map in field_map(), other in "[ -~]{1,20}") {
        prop_assume!(other != "property-secret");
        let signed = SignedQuery::sign(&map, &secret());
        prop_assert!(!verify_map(&map, &signed.secure_hash, &HashSecret::new(other)));
    }

    #[test]
    fn a_pipe_checksum_breaks_when_any_value_changes(
        v in pipe_fields(),
        pick in 0usize..13,
        replacement in "[A-Za-z0-9 ]{1,10}",
    ) {
        prop_assume!(v[pick] != replacement);
        let body = refund_body(&v).signed(&secret());
        prop_assert!(body.signature_matches(&secret()));
        let mut changed = v.clone();
        changed[pick] = replacement;
        let mut tampered = refund_body(&changed);
        tampered.secure_hash = body.secure_hash.clone();
        prop_assert!(!tampered.signature_matches(&secret()));
    }

    #[test]
    fn a_pipe_checksum_breaks_when_two_fields_swap_places(
        v in pipe_fields(),
        a in 0usize..13,
        b in 0usize..13,
    ) {
        prop_assume!(v[a] != v[b]);
        let body = refund_body(&v).signed(&secret());
        let mut swapped = v.clone();
        swapped.swap(a, b);
        let mut reordered = refund_body(&swapped);
        reordered.secure_hash = body.secure_hash.clone();
        prop_assert!(!reordered.signature_matches(&secret()));
    }

    #[test]
    fn a_pipe_checksum_breaks_when_a_field_is_dropped(v in pipe_fields(), pick in 0usize..13) {
        let body = refund_body(&v).signed(&secret());
        let mut values: Vec<String> = body.checksum_data().split('|').map(str::to_owned).collect();
        values.remove(pick);
        prop_assert!(!secret().verify(&values.join("|"), body.secure_hash.as_deref().unwrap_or_default()));
    }

    #[test]
    fn a_querydr_response_signed_without_the_trailing_pipes_never_verifies(v in pipe_fields()) {
        let body = querydr_response(&v).signed(&secret());
        prop_assert!(body.verify(&secret()).is_ok());
        let data = body.checksum_data();
        prop_assert!(data.ends_with("||"));
        let trimmed = data.trim_end_matches('|').to_owned();
        let mut forged = body.clone();
        forged.secure_hash = Some(secret().sign(&trimmed));
        prop_assert!(forged.verify(&secret()).is_err());
    }
}
