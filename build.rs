fn main() {
    pyo3_build_config::add_libpython_rpath_link_args();
    // The Python the module embeds, for the errors that name it when a
    // wsgi_python_home was made by another one (src/python/interpreter.rs).
    let python = pyo3_build_config::get();
    let version = python.version();
    println!(
        "cargo:rustc-env=NGX_WSGI_PYTHON_VERSION={}.{}",
        version.major, version.minor
    );
    println!(
        "cargo:rustc-env=NGX_WSGI_PYTHON_EXECUTABLE={}",
        python.executable().unwrap_or("python3")
    );
}
