//! Ending a payment: the 12-field callback of spec §4.2, signed as VNPay signs it.

use vnpay::{Callback, TmnCode, TxnRef, VnpDateTime};

use crate::outcome::Outcome;
use crate::page_error::PageError;
use crate::pay_request::ValidPay;

/// The callback for `request` ending with `outcome` at `pay_date`.
///
/// Success and insufficient funds carry a TransactionNo; cancel and timeouts carry `0`.
/// BankTranNo is sent only on success. A cancel reports BankCode `VNPAY` and CardType
/// `QRCODE` (as observed); timeouts report BankCode `VNPAY` and no CardType.
pub fn callback(
    request: &ValidPay,
    outcome: Outcome,
    transaction_no: u64,
    pay_date: VnpDateTime,
) -> Result<Callback, PageError> {
    let chosen_bank = request
        .bank_code
        .clone()
        .unwrap_or_else(|| "NCB".to_owned());
    let (bank_code, card_type) = match outcome {
        Outcome::Success | Outcome::InsufficientFunds | Outcome::Suspicious | Outcome::Reversed => {
            (chosen_bank, Some("ATM".to_owned()))
        }
        Outcome::Cancel => ("VNPAY".to_owned(), Some("QRCODE".to_owned())),
        Outcome::Timeout | Outcome::SessionTimeout => ("VNPAY".to_owned(), None),
    };
    Ok(Callback {
        tmn_code: TmnCode::parse(request.tmn_code.as_str())
            .map_err(|e| PageError::format(e.to_string()))?,
        amount: request.amount,
        bank_code,
        bank_tran_no: (outcome == Outcome::Success).then(|| format!("VNP{transaction_no}")),
        card_type,
        pay_date: Some(pay_date),
        order_info: request.order_info.clone(),
        transaction_no: if outcome.has_transaction_no() {
            transaction_no
        } else {
            0
        },
        response_code: outcome.response_code(),
        transaction_status: outcome.callback_status(),
        txn_ref: TxnRef::parse(request.txn_ref.as_str())
            .map_err(|e| PageError::format(e.to_string()))?,
    })
}
