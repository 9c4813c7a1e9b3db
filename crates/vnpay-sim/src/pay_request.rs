//! Checking an incoming `vpcpay.html` request the way the gateway does (spec §2.1, §3, §10.1).

use vnpay::{ReceivedQuery, SignatureError, TxnRef, VERSION, Vnd, VnpDateTime};

use crate::config::SimConfig;
use crate::page_error::PageError;

/// A request that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPay {
    /// `vnp_TmnCode`.
    pub tmn_code: String,
    /// `vnp_TxnRef`.
    pub txn_ref: String,
    /// `vnp_Amount / 100`.
    pub amount: Vnd,
    /// `vnp_OrderInfo`.
    pub order_info: String,
    /// `vnp_CreateDate` as sent.
    pub create_date: VnpDateTime,
    /// `vnp_ExpireDate`, if sent.
    pub expire_date: Option<VnpDateTime>,
    /// `vnp_ReturnUrl`.
    pub return_url: String,
    /// `vnp_BankCode`, if preselected.
    pub bank_code: Option<String>,
    /// `vnp_Locale`.
    pub locale: String,
    /// `vnp_SecureHash`, lowercased: identifies a repeated visit of the same URL.
    pub secure_hash: String,
}

impl ValidPay {
    /// Until when the buyer may pay: `vnp_ExpireDate`, or without one CreateDate + 15 minutes (the
    /// gateway's observed session, spec §2.2 and §11). The second it names is still in time.
    pub fn expires_at(&self) -> VnpDateTime {
        self.expire_date
            .unwrap_or_else(|| self.create_date.plus(vnpay::DEFAULT_EXPIRY))
    }

    /// Whether `now` (the gateway's time) is past [`ValidPay::expires_at`].
    pub fn is_expired_at(&self, now: VnpDateTime) -> bool {
        now > self.expires_at()
    }
}

/// Parses and checks a raw query: terminal (02), signature (70), then fields (03).
pub fn validate(raw_query: &str, config: &SimConfig) -> Result<ValidPay, PageError> {
    let query = ReceivedQuery::parse(raw_query).map_err(|e| PageError::format(e.to_string()))?;
    let tmn_code = query
        .get("vnp_TmnCode")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| PageError::format("vnp_TmnCode is missing"))?;
    let terminal = config
        .terminals
        .get(tmn_code)
        .ok_or(PageError::InvalidMerchant)?;
    query
        .verify_with(&terminal.secret, config.empty_values)
        .map_err(|e| match e {
            SignatureError::DuplicateParameter(name) => {
                PageError::format(format!("{name} appears twice"))
            }
            SignatureError::Missing | SignatureError::Mismatch => PageError::InvalidSignature,
        })?;
    check_fields(&query, tmn_code)
}

fn check_fields(q: &ReceivedQuery, tmn_code: &str) -> Result<ValidPay, PageError> {
    let get = |name: &'static str| {
        q.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| PageError::format(format!("{name} is missing")))
    };
    let bad = |name: &str, v: &str| PageError::format(format!("{name}={v:?} is invalid"));
    let len_ok = |v: &str, min: usize, max: usize| (min..=max).contains(&v.chars().count());

    let version = get("vnp_Version")?;
    if version != VERSION {
        return Err(bad("vnp_Version", version));
    }
    let command = get("vnp_Command")?;
    if command != "pay" {
        return Err(bad("vnp_Command", command));
    }
    let raw_amount = get("vnp_Amount")?;
    if raw_amount.len() > 12 {
        return Err(bad("vnp_Amount", raw_amount));
    }
    let amount = Vnd::from_wire(raw_amount).map_err(|_| bad("vnp_Amount", raw_amount))?;
    if vnpay::PayAmount::parse(amount).is_err() {
        return Err(PageError::format(format!(
            "vnp_Amount: {amount} VND is outside 5,000 to 999,999,999 VND"
        )));
    }
    let curr = get("vnp_CurrCode")?;
    if curr != "VND" {
        return Err(bad("vnp_CurrCode", curr));
    }
    let create = get("vnp_CreateDate")?;
    let create_date = VnpDateTime::parse(create).map_err(|_| bad("vnp_CreateDate", create))?;
    let expire_date = match q.get("vnp_ExpireDate").filter(|v| !v.is_empty()) {
        Some(v) => {
            let at = VnpDateTime::parse(v).map_err(|_| bad("vnp_ExpireDate", v))?;
            if at <= create_date {
                return Err(PageError::format(
                    "vnp_ExpireDate is not after vnp_CreateDate",
                ));
            }
            Some(at)
        }
        None => None,
    };
    let ip = get("vnp_IpAddr")?;
    // Any IPv4 or IPv6 address: the table's Alnum[7,45] would refuse `::1`, which the gateway
    // accepts in practice (spec §2.1: an observed URL carried `%3A%3A1`).
    if !len_ok(ip, 1, 45) || ip.parse::<std::net::IpAddr>().is_err() {
        return Err(bad("vnp_IpAddr", ip));
    }
    let locale = get("vnp_Locale")?;
    if locale != "vn" && locale != "en" {
        return Err(bad("vnp_Locale", locale));
    }
    let order_info = get("vnp_OrderInfo")?;
    if !len_ok(order_info, 1, 255) {
        return Err(bad("vnp_OrderInfo", order_info));
    }
    let order_type = get("vnp_OrderType")?;
    if !len_ok(order_type, 1, 100) {
        return Err(bad("vnp_OrderType", order_type));
    }
    let return_url = get("vnp_ReturnUrl")?;
    let url_ok = len_ok(return_url, 10, 255)
        && (return_url.starts_with("http://") || return_url.starts_with("https://"));
    if !url_ok {
        return Err(bad("vnp_ReturnUrl", return_url));
    }
    let txn_ref = get("vnp_TxnRef")?;
    TxnRef::parse(txn_ref).map_err(|_| bad("vnp_TxnRef", txn_ref))?;
    let bank_code = match q.get("vnp_BankCode").filter(|v| !v.is_empty()) {
        Some(v) if len_ok(v, 3, 20) && v.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            Some(v.to_owned())
        }
        Some(v) => return Err(bad("vnp_BankCode", v)),
        None => None,
    };
    Ok(ValidPay {
        tmn_code: tmn_code.to_owned(),
        txn_ref: txn_ref.to_owned(),
        amount,
        order_info: order_info.to_owned(),
        create_date,
        expire_date,
        return_url: return_url.to_owned(),
        bank_code,
        locale: locale.to_owned(),
        secure_hash: get("vnp_SecureHash")?.to_ascii_lowercase(),
    })
}
