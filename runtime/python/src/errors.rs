//! `realnvp.Error` and its subclasses: every [`RuntimeError`] becomes one of them, with the runtime's message.
//!
//! The subclasses also derive from the built-in exception a Python caller would catch (`ValueError`,
//! `TypeError`, `FileNotFoundError`, `OSError`), so `except ValueError` works as with numpy or scikit-learn.
//! PyO3's `create_exception!` takes one base, so the subclasses are made by calling `type(name, bases, dict)`
//! once, when the module is imported.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyFileNotFoundError, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use realnvp_bundle::BundleError;
use realnvp_runtime::RuntimeError;

create_exception!(
    realnvp,
    Error,
    PyException,
    "Base class of every error the realnvp package raises; the message is the runtime's."
);

/// The subclasses of [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad input data or arguments: shape, NaN, out of range, temperature, unreadable image. `ValueError` too.
    Input,
    /// An array of the wrong dtype, or an object that is not an array. `TypeError` too.
    InputType,
    /// A bundle that breaks the format or is of the wrong kind. `ValueError` too.
    Bundle,
    /// A file or directory that does not exist. `FileNotFoundError` too.
    MissingFile,
    /// Reading or writing a file failed. `OSError` too.
    Io,
    /// The ONNX Runtime library (or an execution provider) cannot be used. `OSError` too.
    Library,
    /// Anything else (ONNX Runtime failed at run time): [`Error`] itself.
    Other,
}

/// Name, docstring and built-in base of each subclass.
const SUBCLASSES: [(Kind, &str, &str); 6] = [
    (
        Kind::Input,
        "InputError",
        "Bad input data or arguments (shape, NaN, out of range, temperature, unreadable image); also a ValueError.",
    ),
    (
        Kind::InputType,
        "InputTypeError",
        "An array of the wrong dtype, or an object that is not an array; also a TypeError.",
    ),
    (
        Kind::Bundle,
        "BundleError",
        "A bundle that breaks the format, is corrupt, or is of the wrong kind; also a ValueError.",
    ),
    (
        Kind::MissingFile,
        "MissingFileError",
        "A bundle, graph, calibration or input file that does not exist; also a FileNotFoundError.",
    ),
    (
        Kind::Io,
        "IoError",
        "Reading or writing a file failed; also an OSError.",
    ),
    (
        Kind::Library,
        "LibraryError",
        "The ONNX Runtime library or execution provider cannot be used; also an OSError.",
    ),
];

static TYPES: [PyOnceLock<Py<PyType>>; 6] = [
    PyOnceLock::new(),
    PyOnceLock::new(),
    PyOnceLock::new(),
    PyOnceLock::new(),
    PyOnceLock::new(),
    PyOnceLock::new(),
];

fn builtin_base(py: Python<'_>, kind: Kind) -> Bound<'_, PyType> {
    match kind {
        Kind::Input | Kind::Bundle => py.get_type::<PyValueError>(),
        Kind::InputType => py.get_type::<PyTypeError>(),
        Kind::MissingFile => py.get_type::<PyFileNotFoundError>(),
        Kind::Io | Kind::Library | Kind::Other => py.get_type::<PyOSError>(),
    }
}

/// The exception class of `kind`, created on first use.
pub fn class(py: Python<'_>, kind: Kind) -> PyResult<Bound<'_, PyType>> {
    let Some(index) = SUBCLASSES.iter().position(|(k, _, _)| *k == kind) else {
        return Ok(py.get_type::<Error>());
    };
    let (_, name, doc) = SUBCLASSES[index];
    let ty = TYPES[index].get_or_try_init(py, || -> PyResult<Py<PyType>> {
        let bases = PyTuple::new(
            py,
            [
                py.get_type::<Error>().into_any(),
                builtin_base(py, kind).into_any(),
            ],
        )?;
        let dict = PyDict::new(py);
        dict.set_item("__doc__", doc)?;
        dict.set_item("__module__", "realnvp")?;
        let made = py
            .get_type::<PyType>()
            .call1((name, bases, dict))?
            .cast_into::<PyType>()?;
        Ok(made.unbind())
    })?;
    Ok(ty.bind(py).clone())
}

/// Adds `Error` and every subclass to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    for (kind, name, _) in SUBCLASSES {
        m.add(name, class(py, kind)?)?;
    }
    Ok(())
}

/// An exception of `kind` with `message`.
pub fn raise(py: Python<'_>, kind: Kind, message: impl Into<String>) -> PyErr {
    match class(py, kind) {
        Ok(ty) => PyErr::from_type(ty, message.into()),
        Err(e) => e,
    }
}

fn io_kind(error: &std::io::Error) -> Kind {
    if error.kind() == std::io::ErrorKind::NotFound {
        Kind::MissingFile
    } else {
        Kind::Io
    }
}

/// Which subclass a runtime error becomes.
pub fn kind_of(e: &RuntimeError) -> Kind {
    match e {
        RuntimeError::Library { .. }
        | RuntimeError::LibraryConflict { .. }
        | RuntimeError::ExecutionProvider { .. } => Kind::Library,
        RuntimeError::MissingFile { .. } | RuntimeError::MissingCalibration { .. } => {
            Kind::MissingFile
        }
        RuntimeError::Io { error, .. } => io_kind(error),
        RuntimeError::InvalidGraph { .. } => Kind::Bundle,
        RuntimeError::UnreadableInputs { first, .. } => kind_of(first),
        RuntimeError::Bundle(b) => match b {
            BundleError::Io { source, .. } => io_kind(source),
            BundleError::CreateDir { .. } => Kind::Io,
            _ => Kind::Bundle,
        },
        RuntimeError::Plot(_) => Kind::Io,
        RuntimeError::Ort { .. } => Kind::Other,
        _ => Kind::Input,
    }
}

/// The runtime's message for `e`, on one line with its causes, as the `runtime` binary prints it.
pub fn message(e: &RuntimeError) -> String {
    realnvp_host::one_line(e)
}

/// `e` as a Python exception.
pub fn to_py(py: Python<'_>, e: &RuntimeError) -> PyErr {
    raise(py, kind_of(e), message(e))
}

/// Converts a runtime result, raising its error as a Python exception.
pub trait OrRaise<T> {
    /// The value, or the error as a Python exception.
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrRaise<T> for Result<T, RuntimeError> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, &e))
    }
}
