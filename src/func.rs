//! Functions of any arity, called with a tuple of arguments: the shape of a process target
//! and of a pool task.
//!
//! [`Target`] is implemented for every `Fn` of zero to eight arguments. The arguments travel
//! as one value: `()` for none, the argument itself for one, a tuple for two or more. So
//! `Process::new(f, ())` runs `f()`, `Process::new(square, 7)` runs `square(7)`, and
//! `Process::new(add, (1, 2))` runs `add(1, 2)` (a function taking one tuple argument,
//! `|(a, b): (u64, u64)|`, is called with the tuple as that argument).

/// A function that can be called with `Args`: `f()` for `()`, `f(a)` for one argument, and
/// `f(a, b, ..)` for a tuple `(a, b, ..)` of up to eight.
///
/// The `Marker` parameter tells the arities apart; it is always inferred (it is the function
/// pointer type of the call, `fn(A, B) -> R`), never written by hand.
///
/// Only zero-sized functions (`fn` items and closures that capture nothing) can be sent to a
/// child started by spawn or the fork server, or run by a pool of processes: the child
/// rebuilds the function from its type alone. A capturing closure fails to build there, with
/// the message "a process target must be a fn item or a closure that captures nothing". That
/// check runs when the code is compiled to machine code (`cargo build`, `cargo test`), not in
/// `cargo check`, which stops before that step.
///
/// # Examples
/// ```
/// use multiproc::Target;
///
/// fn add(a: u64, b: u64) -> u64 {
///     a + b
/// }
/// fn call<F: Target<A, M>, A, M>(f: F, args: A) -> F::Output {
///     f.call(args)
/// }
/// assert_eq!(call(add, (1, 2)), 3);
/// assert_eq!(call(|x: u64| x * x, 7), 49);
/// assert_eq!(call(|| "none", ()), "none");
/// assert_eq!(call(|(a, b): (u8, u8)| a * b, (3, 4)), 12);
/// ```
pub trait Target<Args, Marker>: Send + Sync + 'static {
    /// What the function returns.
    type Output;

    /// Calls the function with `args` spread into its parameters.
    ///
    /// # Examples
    /// ```
    /// use multiproc::Target;
    /// assert_eq!(Target::call(&u8::max, (3, 9)), 9);
    /// ```
    fn call(&self, args: Args) -> Self::Output;
}

impl<F, R> Target<(), fn() -> R> for F
where
    F: Fn() -> R + Send + Sync + 'static,
{
    type Output = R;
    fn call(&self, (): ()) -> R {
        self()
    }
}

impl<F, A, R> Target<A, fn(A) -> R> for F
where
    F: Fn(A) -> R + Send + Sync + 'static,
{
    type Output = R;
    fn call(&self, a: A) -> R {
        self(a)
    }
}

macro_rules! arity {
    ($($a:ident),+) => {
        impl<F, R, $($a),+> Target<($($a,)+), fn($($a),+) -> R> for F
        where
            F: Fn($($a),+) -> R + Send + Sync + 'static,
        {
            type Output = R;
            #[allow(non_snake_case)]
            fn call(&self, ($($a,)+): ($($a,)+)) -> R {
                self($($a),+)
            }
        }
    };
}
arity!(A, B);
arity!(A, B, C);
arity!(A, B, C, D);
arity!(A, B, C, D, E);
arity!(A, B, C, D, E, G);
arity!(A, B, C, D, E, G, H);
arity!(A, B, C, D, E, G, H, I);

#[cfg(test)]
mod tests {
    use super::*;

    fn call<F: Target<A, M>, A, M>(f: F, a: A) -> F::Output {
        f.call(a)
    }

    fn six(a: u8, b: u16, c: u32, d: u64, e: i8, g: i16) -> i64 {
        a as i64 + b as i64 + c as i64 + d as i64 + e as i64 + g as i64
    }

    #[test]
    fn every_arity_spreads_its_tuple() {
        assert_eq!(call(|| 0, ()), 0);
        assert_eq!(call(|a: i32| a, 1), 1);
        assert_eq!(call(|a: i32, b: i32| a + b, (1, 2)), 3);
        assert_eq!(call(|a: i32, b: i32, c: i32| a + b + c, (1, 2, 3)), 6);
        assert_eq!(call(six, (1, 2, 3, 4, 5, 6)), 21);
        let eight = |a: u8, b: u8, c: u8, d: u8, e: u8, g: u8, h: u8, i: u8| [a, b, c, d, e, g, h, i];
        assert_eq!(call(eight, (1, 2, 3, 4, 5, 6, 7, 8)), [1, 2, 3, 4, 5, 6, 7, 8]);
        // One argument that is a tuple: called with the tuple.
        assert_eq!(call(|t: (u8, u8)| t.0 * t.1, (2, 5)), 10);
        assert_eq!(call(|(): ()| 9, ()), 9);
    }
}
