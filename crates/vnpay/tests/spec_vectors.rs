//! Every test vector of the protocol notes (§8), through the public API.

// Helpers outside #[test] functions are test code too: failing loudly is what they should do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use vnpay::{
    Callback, CallbackError, HashSecret, QueryDrRequestBody, QueryDrResponseBody, ReceivedQuery,
    RefundRequestBody, RefundResponseBody, ResponseCode, SignatureError, SignedBody, SignedQuery,
    SignedReply, TransactionStatus, Vnd, canonical_query,
};

const A1_HASH: &str = "649982421beb422556a1374713c74e58e716ecbd05007c0c0e1f7effdfaf361dbf146889ca446139afe11b9954c4d5c486e99e3b86fcfab6957f29eb0be72895";
const A1_99_HASH: &str = "503194f6d93b57b357b2d1d09742565e67e86d771352c5dca4fc8d39df3d392c6b3809add9405f97cfb9631f445e36c80656cfbf47eac67d97fa165865c13e1b";
const A3_HASH: &str = "7ce61325179e68c44a1a329d2c21c56826cb84c5e2b183a882db01003f922eb20f7f02c78617ff2746199c82573e957c0340f4b4073921a3b47f5b871998b649";
const TMDT_SECRET: &str = "test-secret-not-a-credential";

fn a1_fields(response_code: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("vnp_Amount", "1000000"),
        ("vnp_BankCode", "NCB"),
        ("vnp_BankTranNo", "VNP14422574"),
        ("vnp_CardType", "ATM"),
        (
            "vnp_OrderInfo",
            "Thanh toan don hang 2024-05-21T02:17:31.249Z",
        ),
        ("vnp_PayDate", "20240521091806"),
        ("vnp_ResponseCode", response_code),
        ("vnp_TmnCode", "TEST_TMN_CODE"),
        ("vnp_TransactionNo", "14422574"),
        ("vnp_TransactionStatus", "00"),
        ("vnp_TxnRef", "1716257871703"),
    ]
}

fn a1_query(response_code: &'static str, hash: &str) -> String {
    let mut pairs = form_urlencoded::Serializer::new(String::new());
    for (k, v) in a1_fields(response_code) {
        pairs.append_pair(k, v);
    }
    pairs.append_pair("vnp_SecureHash", hash);
    pairs.finish()
}

#[test]
fn a1_the_canonical_string_of_the_return_query_matches_the_published_one() {
    assert_eq!(
        canonical_query(a1_fields("00")),
        "vnp_Amount=1000000&vnp_BankCode=NCB&vnp_BankTranNo=VNP14422574&vnp_CardType=ATM&vnp_OrderInfo=Thanh+toan+don+hang+2024-05-21T02%3A17%3A31.249Z&vnp_PayDate=20240521091806&vnp_ResponseCode=00&vnp_TmnCode=TEST_TMN_CODE&vnp_TransactionNo=14422574&vnp_TransactionStatus=00&vnp_TxnRef=1716257871703"
    );
}

#[test]
fn a1_the_return_query_is_signed_with_the_published_hash() {
    let signed = SignedQuery::sign(a1_fields("00"), &HashSecret::new("test_secret"));
    assert_eq!(signed.secure_hash, A1_HASH);
}

#[test]
fn a1_the_callback_verifies_and_parses_with_the_amount_divided_after_verification() {
    let cb = Callback::verify(&a1_query("00", A1_HASH), &HashSecret::new("test_secret")).unwrap();
    assert_eq!(cb.amount, Vnd::new(10_000));
    assert_eq!(cb.response_code, ResponseCode::Success);
    assert_eq!(cb.transaction_status, TransactionStatus::Success);
    assert_eq!(cb.transaction_no, 14_422_574);
    assert_eq!(cb.bank_tran_no.as_deref(), Some("VNP14422574"));
    assert_eq!(
        cb.pay_date.map(|d| d.format()).as_deref(),
        Some("20240521091806")
    );
    assert_eq!(cb.txn_ref.as_str(), "1716257871703");
    assert!(cb.is_paid());
}

#[test]
fn a1_the_response_code_99_variant_verifies_with_its_own_hash_and_is_not_paid() {
    let secret = HashSecret::new("test_secret");
    assert_eq!(
        SignedQuery::sign(a1_fields("99"), &secret).secure_hash,
        A1_99_HASH
    );
    let cb = Callback::verify(&a1_query("99", A1_99_HASH), &secret).unwrap();
    assert_eq!(cb.response_code, ResponseCode::OtherError);
    assert!(!cb.is_paid());
}

#[test]
fn a1_the_99_variant_carrying_the_00_hash_is_rejected() {
    let err = Callback::verify(&a1_query("99", A1_HASH), &HashSecret::new("test_secret"));
    assert_eq!(
        err,
        Err(CallbackError::BadSignature(SignatureError::Mismatch))
    );
}

#[test]
fn a1_verification_works_from_already_decoded_parameters_too() {
    let mut params: Vec<(&str, &str)> = a1_fields("00");
    params.push(("vnp_SecureHash", A1_HASH));
    assert!(Callback::verify_params(params, &HashSecret::new("test_secret")).is_ok());
}

#[test]
fn a2_a_raw_string_is_signed_with_the_published_hash() {
    let data =
        "vnp_Amount=10000&vnp_OrderInfo=Payment+for+order+%231234567890&vnp_TnxRef=1234567890";
    assert_eq!(
        HashSecret::new("YOUR_SECURE_SECRET").sign(data),
        "7bb8160a5d2085a85b3267817a40ee4f770a335282f19714726e6fc6f28a64c75a1e7e9c1aa96f3cbda5ce44095088fb4cb2af66c596d2f655b0b53966312089"
    );
}

fn a3_fields() -> Vec<(&'static str, &'static str)> {
    vec![
        ("vnp_OrderInfo", "A B+C%"),
        ("vnp_Amount", "10000000"),
        (
            "vnp_ReturnUrl",
            "http://localhost:18080/c2c/payments/vnpay/return",
        ),
        ("vnp_SecureHashType", "ignored"),
    ]
}

#[test]
fn a3_plus_and_percent_inside_a_value_are_escaped_and_secure_hash_type_is_not_signed() {
    assert_eq!(
        canonical_query(a3_fields()),
        "vnp_Amount=10000000&vnp_OrderInfo=A+B%2BC%25&vnp_ReturnUrl=http%3A%2F%2Flocalhost%3A18080%2Fc2c%2Fpayments%2Fvnpay%2Freturn"
    );
    assert_eq!(
        SignedQuery::sign(a3_fields(), &HashSecret::new(TMDT_SECRET)).secure_hash,
        A3_HASH
    );
}

#[test]
fn a3_the_received_query_verifies_with_lowercase_or_uppercase_hash_and_any_hash_type() {
    let secret = HashSecret::new(TMDT_SECRET);
    for hash in [A3_HASH.to_owned(), A3_HASH.to_uppercase()] {
        let mut params = a3_fields();
        params.push(("vnp_SecureHash", &hash));
        let mut ser = form_urlencoded::Serializer::new(String::new());
        ser.extend_pairs(params);
        let q = ReceivedQuery::parse(&ser.finish()).unwrap();
        assert_eq!(q.verify(&secret), Ok(()));
    }
}

#[test]
fn a4_the_querydr_request_checksum_matches_the_published_hash() {
    let body = QueryDrRequestBody {
        request_id: Some("request".into()),
        version: Some("2.1.0".into()),
        command: Some("querydr".into()),
        tmn_code: Some("TEST0001".into()),
        txn_ref: Some("reference".into()),
        transaction_date: Some("20261005093000".into()),
        create_date: Some("20261005100000".into()),
        ip_addr: Some("127.0.0.1".into()),
        order_info: Some("Kiem tra don 1".into()),
        ..Default::default()
    };
    assert_eq!(
        body.checksum_data(),
        "request|2.1.0|querydr|TEST0001|reference|20261005093000|20261005100000|127.0.0.1|Kiem tra don 1"
    );
    let signed = body.signed(&HashSecret::new(TMDT_SECRET));
    assert_eq!(
        signed.secure_hash.as_deref(),
        Some(
            "3fb58fe73a4d0d358900c25a4f08c129f25b428d81a82bf21033a93562c87b07ecc0f822a0a9045b66cc72e149d40d858cd4f21ccb46ee37eaae67b23c52a55f"
        )
    );
}

const A5_HASH: &str = "b9c07c54f8bc6799429d3d6ec344ac619bd4b8d01ad968062d59727682fff8700094f3ba30519c3518b7a0e318ce6d5ee92a157574d21d6850400f2db11b18a6";

fn a5_body(hash: &str) -> QueryDrResponseBody {
    QueryDrResponseBody {
        response_id: Some("response".into()),
        command: Some("querydr".into()),
        response_code: Some("00".into()),
        message: Some("Success".into()),
        tmn_code: Some("TEST0001".into()),
        txn_ref: Some("reference".into()),
        amount: Some("10000000".into()),
        bank_code: Some("NCB".into()),
        pay_date: Some("20261005100000".into()),
        transaction_no: Some("123456".into()),
        transaction_type: Some("01".into()),
        transaction_status: Some("00".into()),
        order_info: Some("Thanh toan don 1".into()),
        secure_hash: Some(hash.into()),
        ..Default::default()
    }
}

#[test]
fn a5_the_querydr_response_without_promotion_fields_signs_a_string_ending_in_two_pipes() {
    let body = a5_body(A5_HASH);
    assert_eq!(
        body.checksum_data(),
        "response|querydr|00|Success|TEST0001|reference|10000000|NCB|20261005100000|123456|01|00|Thanh toan don 1||"
    );
    let result = body.verify(&HashSecret::new(TMDT_SECRET)).unwrap();
    assert_eq!(result.amount, Vnd::new(100_000));
    assert_eq!(result.transaction_no, Some(123_456));
}

#[test]
fn a5_the_same_response_signed_without_the_trailing_pipes_is_rejected() {
    let secret = HashSecret::new(TMDT_SECRET);
    let without_pipes = "response|querydr|00|Success|TEST0001|reference|10000000|NCB|20261005100000|123456|01|00|Thanh toan don 1";
    let wrong_hash = secret.sign(without_pipes);
    assert!(wrong_hash.starts_with("6a9575b9") && wrong_hash.ends_with("8264088"));
    assert!(a5_body(&wrong_hash).verify(&secret).is_err());
}

#[test]
fn d1_the_full_pay_url_fields_sign_to_the_derived_hash() {
    let fields = [
        ("vnp_Version", "2.1.0"),
        ("vnp_Command", "pay"),
        ("vnp_TmnCode", "TEST_TMN_CODE"),
        ("vnp_Amount", "100000"),
        ("vnp_CurrCode", "VND"),
        ("vnp_BankCode", "NCB"),
        ("vnp_CreateDate", "20210101070000"),
        ("vnp_IpAddr", "127.0.0.1"),
        ("vnp_Locale", "vn"),
        ("vnp_OrderInfo", "Test order"),
        ("vnp_OrderType", "other"),
        ("vnp_ReturnUrl", "https://example.com/return"),
        ("vnp_TxnRef", "ref1234567"),
    ];
    let signed = SignedQuery::sign(fields, &HashSecret::new("test_secret"));
    assert_eq!(
        signed.canonical,
        "vnp_Amount=100000&vnp_BankCode=NCB&vnp_Command=pay&vnp_CreateDate=20210101070000&vnp_CurrCode=VND&vnp_IpAddr=127.0.0.1&vnp_Locale=vn&vnp_OrderInfo=Test+order&vnp_OrderType=other&vnp_ReturnUrl=https%3A%2F%2Fexample.com%2Freturn&vnp_TmnCode=TEST_TMN_CODE&vnp_TxnRef=ref1234567&vnp_Version=2.1.0"
    );
    assert_eq!(
        signed.secure_hash,
        "d8e4eb24f51f157d6898a30ced0539e4f8f6dec834c0ab10d6cf9d768f9785ce8ba2edf1aab9a12d4561b162cde07d9b4088379523e61c642056d8b04095132b"
    );
}

#[test]
fn d2_the_querydr_request_checksum_matches_the_derived_hash() {
    let body = QueryDrRequestBody {
        request_id: Some("REQUEST123456".into()),
        version: Some("2.1.0".into()),
        command: Some("querydr".into()),
        tmn_code: Some("TEST_TMN_CODE".into()),
        txn_ref: Some("TXN123456789".into()),
        transaction_date: Some("20231221103000".into()),
        create_date: Some("20231221103000".into()),
        ip_addr: Some("127.0.0.1".into()),
        order_info: Some("Test order query".into()),
        ..Default::default()
    }
    .signed(&HashSecret::new("test_secret"));
    assert_eq!(
        body.secure_hash.as_deref(),
        Some(
            "ac23f7e0db3fc8bc6dc83350725b891aa921ec7a83d1a370978d314457eeda176ff26a87bd4e13dc896c24890238b29fadf033080a07aa52abafa830cd2eb565"
        )
    );
    assert!(body.signature_matches(&HashSecret::new("test_secret")));
}

#[test]
fn d3_the_refund_request_checksum_matches_the_derived_hash() {
    let body = RefundRequestBody {
        request_id: Some("REFUND123456".into()),
        version: Some("2.1.0".into()),
        command: Some("refund".into()),
        tmn_code: Some("TEST_TMN_CODE".into()),
        transaction_type: Some("02".into()),
        txn_ref: Some("TXN123456789".into()),
        amount: Some("1000000".into()),
        transaction_no: Some("14422574".into()),
        transaction_date: Some("20231221103000".into()),
        create_by: Some("merchant_user".into()),
        create_date: Some("20231221103000".into()),
        ip_addr: Some("127.0.0.1".into()),
        order_info: Some("Test refund order".into()),
        secure_hash: None,
    };
    assert_eq!(
        body.checksum_data(),
        "REFUND123456|2.1.0|refund|TEST_TMN_CODE|02|TXN123456789|1000000|14422574|20231221103000|merchant_user|20231221103000|127.0.0.1|Test refund order"
    );
    assert_eq!(
        body.signed(&HashSecret::new("test_secret"))
            .secure_hash
            .as_deref(),
        Some(
            "1b0d3f82bc64cda12af250a284e72895b965ad745fef5a5b4f2b0ab50142e0089598fd9fd28e73d1c4ede96932996c3b08b4e9ab8a02fa5e88ecc555afba9a33"
        )
    );
}

#[test]
fn d4_the_querydr_response_verifies_with_the_derived_hash() {
    let body = QueryDrResponseBody {
        response_id: Some("RESPONSE123456".into()),
        command: Some("querydr".into()),
        response_code: Some("00".into()),
        message: Some("Success".into()),
        tmn_code: Some("TEST_TMN_CODE".into()),
        txn_ref: Some("TXN123456789".into()),
        amount: Some("1000000".into()),
        bank_code: Some("NCB".into()),
        pay_date: Some("20231221103000".into()),
        transaction_no: Some("14422574".into()),
        transaction_type: Some("01".into()),
        transaction_status: Some("00".into()),
        order_info: Some("Test order query".into()),
        secure_hash: Some("8c879c6277a89ab44ef8cfddb43786ba04265e2aa60408db13510cd481282db8398418bec2cd779636257e7d2857499e46d9cf42ec955c69c44a2a0b5518d932".into()),
        ..Default::default()
    };
    assert_eq!(
        body.checksum_data(),
        "RESPONSE123456|querydr|00|Success|TEST_TMN_CODE|TXN123456789|1000000|NCB|20231221103000|14422574|01|00|Test order query||"
    );
    let result = body.verify(&HashSecret::new("test_secret")).unwrap();
    assert_eq!(result.amount, Vnd::new(10_000));
}

fn d5_body(amount: &str) -> RefundResponseBody {
    RefundResponseBody {
        response_id: Some("REFUND_RESPONSE123".into()),
        command: Some("refund".into()),
        response_code: Some("00".into()),
        message: Some("Success".into()),
        tmn_code: Some("TEST_TMN_CODE".into()),
        txn_ref: Some("TXN123456789".into()),
        amount: Some(amount.into()),
        bank_code: Some("NCB".into()),
        pay_date: Some("20231221103000".into()),
        transaction_no: Some("14422574".into()),
        transaction_type: Some("02".into()),
        transaction_status: Some("00".into()),
        order_info: Some("Test refund order".into()),
        secure_hash: Some("40be6c028819734d2ffa54d6fb1518e5cf62e59901d368e02902fccffd596219c26cdcd014d0357ed65d32525ca316bef2d1ebdb6cb7ed9d5764acf12cba0c89".into()),
    }
}

#[test]
fn d5_the_refund_response_is_verified_over_the_raw_times_one_hundred_amount() {
    let body = d5_body("1000000");
    assert_eq!(
        body.checksum_data(),
        "REFUND_RESPONSE123|refund|00|Success|TEST_TMN_CODE|TXN123456789|1000000|NCB|20231221103000|14422574|02|00|Test refund order"
    );
    let result = body.verify(&HashSecret::new("test_secret")).unwrap();
    assert_eq!(result.amount, Vnd::new(10_000));
}

#[test]
fn d5_a_refund_response_hashed_over_the_divided_amount_does_not_verify() {
    // The hash above was made over 1000000; a body claiming 10000 (amount already divided) fails.
    assert!(
        d5_body("10000")
            .verify(&HashSecret::new("test_secret"))
            .is_err()
    );
}

#[test]
fn hmac_sanity_key_secret_message_data() {
    assert_eq!(
        HashSecret::new("secret").sign("data"),
        "6274071d33dec2728a2a1c903697fc1210b3252221c3d137e12d9f1ae5c8ed53e05e692b05a9eefff289667e2387c0fc0bd8a3d9bd7000782730c856a77a77d5"
    );
}
