//! What both adapters share about the admission gate's fence.

use flashgate_core::{CustomerId, StoreError};

pub(crate) fn parse_holdings(
    held: Vec<(String, i64)>,
) -> Result<Vec<(CustomerId, i64)>, StoreError> {
    held.into_iter()
        .map(|(customer, units)| {
            CustomerId::parse(&customer)
                .map(|c| (c, units))
                .map_err(|e| StoreError::Internal(format!("stored customer id: {e}")))
        })
        .collect()
}
