//! The uwsgi protocol: the packet (plain data, unit-tested) and, in the
//! module build, the `uwsgi_upstream` handler on nginx's upstream machinery.

pub mod packet;

#[cfg(all(feature = "module", not(test)))]
pub mod upstream;
