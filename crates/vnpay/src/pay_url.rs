//! The signed payment URL the buyer's browser is redirected to (`vnp_Command=pay`, spec §2).

use std::collections::BTreeMap;
use std::net::IpAddr;

use time::{Duration, OffsetDateTime};

use crate::VERSION;
use crate::amount::PayAmount;
use crate::order_info::OrderInfo;
use crate::pay_fields::{BankCode, BillingField, InvalidField, Locale, OrderType, ReturnUrl};
use crate::signed_query::SignedQuery;
use crate::terminal::Terminal;
use crate::time::VnpDateTime;
use crate::txn_ref::TxnRef;

/// The sandbox payment page.
pub const SANDBOX_PAY_URL: &str = "https://sandbox.vnpayment.vn/paymentv2/vpcpay.html";
/// The production payment page.
pub const PRODUCTION_PAY_URL: &str = "https://pay.vnpay.vn/vpcpay.html";

/// What the demos use when they set an expiry: CreateDate + 15 minutes.
pub const DEFAULT_EXPIRY: Duration = Duration::minutes(15);

/// Longest billing value accepted.
const MAX_BILLING_LEN: usize = 255;

/// A payment request. Every field is typed, so a built request is always valid; empty fields
/// are never sent and `vnp_SecureHashType` never is either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayRequest {
    txn_ref: TxnRef,
    amount: PayAmount,
    order_info: OrderInfo,
    return_url: ReturnUrl,
    ip_addr: IpAddr,
    create_date: VnpDateTime,
    expire_date: Option<VnpDateTime>,
    locale: Locale,
    bank_code: Option<BankCode>,
    order_type: OrderType,
    billing: BTreeMap<BillingField, String>,
}

impl PayRequest {
    /// A request with the required fields. `created_at` is the instant the order is sent to
    /// VNPay; it is shown in GMT+7 whatever its offset.
    pub fn new(
        txn_ref: TxnRef,
        amount: PayAmount,
        order_info: OrderInfo,
        return_url: ReturnUrl,
        ip_addr: IpAddr,
        created_at: OffsetDateTime,
    ) -> Self {
        Self {
            txn_ref,
            amount,
            order_info,
            return_url,
            ip_addr,
            create_date: VnpDateTime::from_instant(created_at),
            expire_date: None,
            locale: Locale::default(),
            bank_code: None,
            order_type: OrderType::default(),
            billing: BTreeMap::new(),
        }
    }

    /// The page language (default `vn`).
    pub fn locale(mut self, locale: Locale) -> Self {
        self.locale = locale;
        self
    }

    /// Preselects the bank or method; without it the buyer chooses on the VNPay page.
    pub fn bank_code(mut self, bank_code: BankCode) -> Self {
        self.bank_code = Some(bank_code);
        self
    }

    /// The goods category (default `other`).
    pub fn order_type(mut self, order_type: OrderType) -> Self {
        self.order_type = order_type;
        self
    }

    /// Sets `vnp_ExpireDate` to CreateDate + `after`; `after` must be positive.
    pub fn expire_after(self, after: Duration) -> Result<Self, InvalidField> {
        let at = self.create_date.plus(after);
        self.expire_at(at.instant())
    }

    /// Sets `vnp_ExpireDate`; it must come after CreateDate.
    pub fn expire_at(mut self, at: OffsetDateTime) -> Result<Self, InvalidField> {
        let at = VnpDateTime::from_instant(at);
        if at <= self.create_date {
            return Err(InvalidField {
                field: "vnp_ExpireDate",
                value: at.format(),
                rule: "is not after vnp_CreateDate",
            });
        }
        self.expire_date = Some(at);
        Ok(self)
    }

    /// Adds a billing or invoice field. The value is trimmed; an empty one is refused, since
    /// empty fields are never sent.
    pub fn billing(
        mut self,
        field: BillingField,
        value: impl Into<String>,
    ) -> Result<Self, InvalidField> {
        let value = value.into();
        let trimmed = value.trim();
        if trimmed.is_empty()
            || trimmed.len() > MAX_BILLING_LEN
            || trimmed.chars().any(char::is_control)
        {
            return Err(InvalidField {
                field: field.name(),
                value,
                rule: "is not 1-255 printable characters",
            });
        }
        self.billing.insert(field, trimmed.to_owned());
        Ok(self)
    }

    /// The merchant reference.
    pub fn txn_ref(&self) -> &TxnRef {
        &self.txn_ref
    }

    /// The amount.
    pub fn amount(&self) -> PayAmount {
        self.amount
    }

    /// `vnp_CreateDate`: keep it, querydr and refund need it as `vnp_TransactionDate`.
    pub fn create_date(&self) -> VnpDateTime {
        self.create_date
    }

    /// `vnp_ExpireDate`, when set.
    pub fn expire_date(&self) -> Option<VnpDateTime> {
        self.expire_date
    }

    /// Every parameter that is sent, unsigned, in no particular order.
    pub fn fields(&self, terminal: &Terminal) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("vnp_Version", VERSION.to_owned()),
            ("vnp_Command", "pay".to_owned()),
            ("vnp_TmnCode", terminal.tmn_code.as_str().to_owned()),
            ("vnp_Amount", self.amount.vnd().to_wire()),
            ("vnp_CurrCode", "VND".to_owned()),
            ("vnp_CreateDate", self.create_date.format()),
            ("vnp_IpAddr", self.ip_addr.to_string()),
            ("vnp_Locale", self.locale.as_str().to_owned()),
            ("vnp_OrderInfo", self.order_info.as_str().to_owned()),
            ("vnp_OrderType", self.order_type.as_str().to_owned()),
            ("vnp_ReturnUrl", self.return_url.as_str().to_owned()),
            ("vnp_TxnRef", self.txn_ref.as_str().to_owned()),
        ];
        if let Some(bank) = &self.bank_code {
            fields.push(("vnp_BankCode", bank.as_str().to_owned()));
        }
        if let Some(expire) = self.expire_date {
            fields.push(("vnp_ExpireDate", expire.format()));
        }
        fields.extend(self.billing.iter().map(|(f, v)| (f.name(), v.clone())));
        fields
    }

    /// Signs the request for `terminal`.
    pub fn sign(&self, terminal: &Terminal) -> SignedQuery {
        SignedQuery::sign(self.fields(terminal), &terminal.secret)
    }

    /// The URL to redirect the browser to: `pay_page` (e.g. [`SANDBOX_PAY_URL`]) plus the signed query.
    pub fn to_url(&self, pay_page: &str, terminal: &Terminal) -> String {
        self.sign(terminal).append_to(pay_page)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use time::macros::datetime;

    use super::*;
    use crate::amount::Vnd;
    use crate::signature::HashSecret;

    fn terminal() -> Terminal {
        Terminal::spec_fixture()
    }

    fn request(amount: u64) -> PayRequest {
        PayRequest::new(
            TxnRef::parse("ref1234567").unwrap(),
            PayAmount::parse(Vnd::new(amount)).unwrap(),
            OrderInfo::parse("Test order").unwrap(),
            ReturnUrl::parse("https://example.com/return").unwrap(),
            "127.0.0.1".parse().unwrap(),
            datetime!(2021-01-01 00:00:00 UTC),
        )
        .bank_code(BankCode::parse("NCB").unwrap())
    }

    #[test]
    fn the_built_request_signs_exactly_the_d1_fields_apart_from_the_amount() {
        // D1 uses 1,000 VND, below the payment minimum, so the builder is checked at 5,000 VND and
        // the D1 hash itself is checked in the vector tests.
        let d1 = "vnp_Amount=100000&vnp_BankCode=NCB&vnp_Command=pay&vnp_CreateDate=20210101070000&vnp_CurrCode=VND&vnp_IpAddr=127.0.0.1&vnp_Locale=vn&vnp_OrderInfo=Test+order&vnp_OrderType=other&vnp_ReturnUrl=https%3A%2F%2Fexample.com%2Freturn&vnp_TmnCode=TEST_TMN_CODE&vnp_TxnRef=ref1234567&vnp_Version=2.1.0";
        let signed = request(5_000).sign(&terminal());
        assert_eq!(
            signed.canonical,
            d1.replace("vnp_Amount=100000", "vnp_Amount=500000")
        );
        assert_eq!(
            signed.secure_hash,
            HashSecret::new("test_secret").sign(&signed.canonical)
        );
    }

    #[test]
    fn the_url_carries_the_canonical_query_and_the_hash_but_no_hash_type() {
        let url = request(10_000).to_url(SANDBOX_PAY_URL, &terminal());
        assert!(
            url.starts_with(
                "https://sandbox.vnpayment.vn/paymentv2/vpcpay.html?vnp_Amount=1000000&"
            )
        );
        assert!(url.contains("&vnp_SecureHash="));
        assert!(!url.contains("SecureHashType"));
    }

    #[test]
    fn expiry_is_create_date_plus_the_given_duration_in_gmt7() {
        let req = request(10_000).expire_after(DEFAULT_EXPIRY).unwrap();
        assert_eq!(
            req.expire_date().map(VnpDateTime::format).as_deref(),
            Some("20210101071500")
        );
        let fields = req.fields(&terminal());
        assert!(fields.contains(&("vnp_ExpireDate", "20210101071500".to_owned())));
    }

    #[test]
    fn an_expiry_not_after_creation_is_refused() {
        assert!(request(10_000).expire_after(Duration::ZERO).is_err());
        assert!(
            request(10_000)
                .expire_at(datetime!(2020-12-31 00:00:00 UTC))
                .is_err()
        );
    }

    #[test]
    fn without_optional_fields_no_empty_parameter_is_sent() {
        let req = PayRequest::new(
            TxnRef::parse("r1").unwrap(),
            PayAmount::parse(Vnd::new(5_000)).unwrap(),
            OrderInfo::parse("x").unwrap(),
            ReturnUrl::parse("https://example.com/return").unwrap(),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            datetime!(2021-01-01 00:00:00 UTC),
        );
        let fields = req.fields(&terminal());
        assert!(fields.iter().all(|(_, v)| !v.is_empty()));
        assert!(
            fields
                .iter()
                .all(|(k, _)| *k != "vnp_BankCode" && *k != "vnp_ExpireDate")
        );
        assert!(
            req.sign(&terminal())
                .canonical
                .contains("vnp_IpAddr=%3A%3A1")
        );
    }

    #[test]
    fn billing_fields_are_signed_and_empty_ones_refused() {
        let req = request(10_000)
            .billing(BillingField::BillEmail, " a@b.vn ")
            .unwrap();
        assert!(
            req.sign(&terminal())
                .canonical
                .contains("vnp_Bill_Email=a%40b.vn")
        );
        assert!(
            request(10_000)
                .billing(BillingField::BillCity, "  ")
                .is_err()
        );
    }

    #[test]
    fn locale_and_order_type_can_be_changed() {
        let req = request(10_000)
            .locale(Locale::En)
            .order_type(OrderType::parse("billpayment").unwrap());
        let canonical = req.sign(&terminal()).canonical;
        assert!(canonical.contains("vnp_Locale=en"));
        assert!(canonical.contains("vnp_OrderType=billpayment"));
    }
}
