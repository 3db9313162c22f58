//! The two backends behind [`crate::Store`], one file each, the same operations in each.
//!
//! Both take already-encoded chunks and keep the commit protocol of [`crate::key`]; decoding,
//! validation and statistics live in [`crate::store`], once for both.

pub(crate) mod embedded;
pub(crate) mod resp;
