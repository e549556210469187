//! The uwsgi packet: encoding the request's variables (see `encode`).
