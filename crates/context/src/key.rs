//! `Key<T>`: a typed key for context values.

use std::fmt;
use std::marker::PhantomData;

/// A typed key for [`with_value`](crate::with_value) and
/// [`Context::value`](crate::Context::value).
///
/// Declare keys as `static`s: a key is identified by its address, so two keys never
/// collide even if their names are equal, and the value type is fixed by the key, so a
/// lookup returns `Option<&T>` with no downcast left to the caller. (Go uses an
/// unexported key type for the same purpose.)
///
/// # Examples
///
/// ```
/// use gosync_context::{background, with_value, Key};
///
/// static REQUEST_ID: Key<u64> = Key::new("request-id");
/// static USER: Key<String> = Key::new("user");
///
/// let ctx = with_value(&background(), &REQUEST_ID, 42);
/// let ctx = with_value(&ctx, &USER, "gopher".to_string());
/// assert_eq!(ctx.value(&REQUEST_ID), Some(&42));
/// assert_eq!(ctx.value(&USER).map(String::as_str), Some("gopher"));
/// ```
pub struct Key<T: 'static> {
    name: &'static str,
    _value: PhantomData<fn() -> T>,
}

impl<T: 'static> Key<T> {
    /// A key named `name` (the name is for `Debug` only; identity is the address).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::Key;
    ///
    /// static DEPTH: Key<u32> = Key::new("depth");
    /// assert_eq!(DEPTH.name(), "depth");
    /// ```
    pub const fn new(name: &'static str) -> Key<T> {
        Key {
            name,
            _value: PhantomData,
        }
    }

    /// The key's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The identity of the key: its address (a `static` of non-zero size has its own).
    pub(crate) fn id(&'static self) -> usize {
        self as *const Key<T> as usize
    }
}

impl<T: 'static> fmt::Debug for Key<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name)
            .field("type", &std::any::type_name::<T>())
            .finish()
    }
}
