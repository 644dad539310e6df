//! Shared values: [`Value`], [`Array`], [`RawValue`], [`RawArray`] (Python's
//! `multiprocessing.sharedctypes`) and [`ShareableList`] (`multiprocessing.shared_memory`).
//!
//! This layer sits above `shm/` (the segments the data lives in, and [`ShmSafe`]) and `sync/`
//! (the [`Lock`](crate::Lock) or [`RLock`](crate::RLock) of a `Value` or an `Array`). Neither
//! of those imports it.
//!
//! | file | holds |
//! |---|---|
//! | `value.rs` | [`RawValue`], [`Value`] |
//! | `array.rs` | [`RawArray`], [`Array`] |
//! | `locked.rs` | [`ValueLock`] and the guard of both, [`SharedGuard`] ([`ValueGuard`], [`ArrayGuard`]) |
//! | `shareable_list.rs` | [`ShareableList`] and its [`Item`]s, CPython's layout in a named segment |
//!
//! [`ShmSafe`]: crate::ShmSafe
#![allow(unsafe_code)]

mod array;
mod locked;
mod shareable_list;
mod value;

pub use self::array::{Array, RawArray};
pub use self::locked::{ArrayGuard, SharedGuard, ValueGuard, ValueLock};
pub use self::shareable_list::{Item, ListIndex, ShareableList, ShareableListError};
pub use self::value::{RawValue, Value};
