//! An awaitable whose result is already there: what `receive()` returns
//! when a message is waiting, and `send()` when the client can take more.
//! `await` on it gives its value at once, with no trip through the loop;
//! a future is made only when the app must really wait.

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;

#[pyclass(module = "ngx_wsgi")]
pub struct Ready {
    value: Option<Py<PyAny>>,
}

impl Ready {
    pub fn new(value: Py<PyAny>) -> Ready {
        Ready { value: Some(value) }
    }

    pub fn none() -> Ready {
        Ready { value: None }
    }
}

#[pymethods]
impl Ready {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The first step of the await ends it, with the value.
    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let value = self.value.take().unwrap_or_else(|| py.None());
        Err(PyStopIteration::new_err((value,)))
    }

    fn send(&mut self, py: Python<'_>, _value: Py<PyAny>) -> PyResult<Option<Py<PyAny>>> {
        self.__next__(py)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyo3::types::PyDict;

    #[test]
    fn await_gives_the_value_at_once() {
        Python::initialize();
        Python::attach(|py| {
            let globals = PyDict::new(py);
            globals
                .set_item(
                    "ready",
                    Bound::new(
                        py,
                        Ready::new(42i32.into_pyobject(py).unwrap().into_any().unbind()),
                    )
                    .unwrap(),
                )
                .unwrap();
            globals
                .set_item("nothing", Bound::new(py, Ready::none()).unwrap())
                .unwrap();
            py.run(
                c"
import asyncio
async def main():
    return (await ready, await nothing)
result = asyncio.run(main())
",
                Some(&globals),
                None,
            )
            .unwrap();
            let result: (i32, Option<i32>) = globals
                .get_item("result")
                .unwrap()
                .unwrap()
                .extract()
                .unwrap();
            assert_eq!(result, (42, None));
        });
    }
}
