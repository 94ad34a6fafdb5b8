//! Library code that panics where it should return an error: the Parquet decoder on a
//! damaged file (a length that lies), the Excel writer when its temporary file cannot be
//! written (a full disk). Such a panic is the input's or the disk's fault, not a bug, so
//! it is caught, kept off stderr (its message could quote the file's bytes) and turned
//! into the error the caller names.

use std::any::Any;

thread_local! {
    /// Set while this thread runs contained code.
    static CONTAINED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`; a panic inside it becomes `Err` with the panic's payload.
pub fn run<T>(f: impl FnOnce() -> T) -> Result<T, Box<dyn Any + Send>> {
    let outer = CONTAINED.with(|c| c.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CONTAINED.with(|c| c.set(outer));
    result
}

/// Keeps the panic hook quiet for a contained panic; every other panic is reported as
/// before. Called once at start-up.
pub fn quiet_contained_panics() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !CONTAINED.with(|c| c.get()) {
            report(info);
        }
    }));
}

/// The OS error a panic's payload reports, when the library unwrapped one
/// (`called Result::unwrap() on an Err value: Os { code: 28, … }`).
pub fn os_error(payload: &(dyn Any + Send)) -> Option<std::io::Error> {
    let text =
        payload.downcast_ref::<String>().map(String::as_str).or_else(|| payload.downcast_ref::<&str>().copied())?;
    let rest = &text[text.find("Os { code: ")? + "Os { code: ".len()..];
    let code: i32 = rest[..rest.find(|c: char| !c.is_ascii_digit())?].parse().ok()?;
    Some(std::io::Error::from_raw_os_error(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unwrapped_os_error_is_read_back_from_the_panic() {
        let payload = run(|| -> () {
            // As a writer library does it: unwrap an I/O error it did not expect.
            let e: std::io::Result<()> = std::hint::black_box(Err(std::io::Error::from_raw_os_error(28)));
            e.unwrap()
        })
        .unwrap_err();
        assert_eq!(os_error(payload.as_ref()).map(|e| e.raw_os_error()), Some(Some(28)));
        let other = run(|| panic!("index out of bounds")).unwrap_err();
        assert!(os_error(other.as_ref()).is_none());
    }
}
