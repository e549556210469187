# The Django project of t/frameworks-django.t (t/apps/frameworks/djproj:
# SQLite, sessions, CSRF, the admin) under asgi_app, through Django's
# ASGIHandler, at the prefix /django/ (the ASGI root_path), from the
# virtualenv of scripts/frameworks-venv.sh: the same flows as under
# wsgi_app, and an async view. Each worker migrates a fresh SQLite database
# in a temporary directory when it imports djproj.asgi (see its settings).
# Django raises on the lifespan scope: asgi_lifespan auto serves it
# without lifespan. The loop is asyncio's (asgi_loop asyncio) but in the
# block that checks that auto picks uvloop.
#
# The two-step flows (GET a form, POST it with its CSRF token; log in to
# the admin) run in t/apps/frameworks/django_driver.py, a WSGI app in the
# same nginx that acts as a browser against it with urllib: every request
# of those flows goes through nginx.
use Test::Nginx::Socket 'no_plan';

# A CSRF cookie (a 32-character secret) and a form token made from it as
# Django makes them (a mask, then the secret shifted by the mask).
our $Chars = join '', 'a' .. 'z', 'A' .. 'Z', 0 .. 9;
our $CsrfSecret = 'ngxwsgiCsrfSecret0123456789abcde';
our $CsrfMask = 'MaskMaskMaskMaskMaskMaskMask0123';
our $CsrfToken = $CsrfMask . join '', map {
    substr $Chars, (index($Chars, substr($CsrfSecret, $_, 1))
                    + index($Chars, substr($CsrfMask, $_, 1))) % 62, 1
} 0 .. 31;

no_shuffle();
no_root_location();
# importing Django and migrating its database takes a second or two
timeout(10);
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    wsgi_python_home $TEST_NGINX_FRAMEWORKS_VENV;
    wsgi_python_path $TEST_NGINX_APPS/frameworks;
    asgi_loop asyncio;
_EOC_
    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    location /django/ { asgi_app djproj.asgi:application; }
    location = /drive/notes { wsgi_app django_driver:notes_flow; }
    location = /drive/admin { wsgi_app django_driver:admin_flow; }
_EOC_
    $block->set_value("no_error_log", "[error]\n[alert]")
        unless defined $block->no_error_log || defined $block->error_log;
});

run_tests();

__DATA__

=== TEST 1: the form: a CSRF cookie, a token in the page, reverse() under /django/
--- request
GET /django/notes/
--- response_headers
Content-Type: text/html; charset=utf-8
X-Frame-Options: DENY
--- raw_response_headers_like: \r\nSet-Cookie: +csrftoken=[A-Za-z0-9]{32}; expires=[^\r]+; Max-Age=31449600; Path=/; SameSite=Lax\r\n
--- response_body_like: <form method="post" action="/django/notes/">\n<input type="hidden" name="csrfmiddlewaretoken" value="[A-Za-z0-9]{64}">.*<input type="text" name="title"


=== TEST 2: a POST without the CSRF cookie is refused
--- request
POST /django/notes/
title=no+cookie
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 403
--- response_body_like: CSRF verification failed
--- error_log
Forbidden (CSRF cookie not set.): /django/notes/


=== TEST 3: a POST with the cookie but without the token is refused
--- request eval
"POST /django/notes/\ntitle=no+token"
--- more_headers eval
"Content-Type: application/x-www-form-urlencoded\nCookie: csrftoken=$::CsrfSecret"
--- error_code: 403
--- error_log
Forbidden (CSRF token missing.): /django/notes/


=== TEST 4: a POST with a matching cookie and token is saved, and redirects inside /django/
--- request eval
["POST /django/notes/\ncsrfmiddlewaretoken=$::CsrfToken&title=first+note&body=caf%C3%A9",
 "GET /django/notes/1/",
 "GET /django/api/notes/"]
--- more_headers eval
["Content-Type: application/x-www-form-urlencoded\nCookie: csrftoken=$::CsrfSecret", "", ""]
--- error_code eval
[302, 200, 200]
--- response_headers eval
["Location: /django/notes/1/", "Content-Type: text/plain; charset=utf-8", "Content-Type: application/json"]
--- response_body eval
["",
 "note 1: first note\ncafé\n",
 '{"count": 1, "notes": [{"id": 1, "title": "first note", "url": "/django/notes/1/"}], '
 . '"form_url": "/django/notes/", "absolute": "http://localhost/django/api/notes/", '
 . '"path": "/django/api/notes/", "path_info": "/api/notes/", "script_name": "/django"}']


=== TEST 5: a JSON view on a fresh database
--- request
GET /django/api/notes/?x=1
--- response_headers
Content-Type: application/json
--- response_body chomp
{"count": 0, "notes": [], "form_url": "/django/notes/", "absolute": "http://localhost/django/api/notes/", "path": "/django/api/notes/", "path_info": "/api/notes/", "script_name": "/django"}


=== TEST 6: a JSON POST to a CSRF-exempt view
--- request
POST /django/api/echo/
{"a": [1, 2, 3], "b": {"c": "d\u00e9"}}
--- more_headers
Content-Type: application/json; charset=utf-8
--- error_code: 201
--- response_body chomp
{"received": {"a": [1, 2, 3], "b": {"c": "d\u00e9"}}, "content_type": "application/json", "length": 39}


=== TEST 7: the admin's login page, with its static files under the prefix
--- request
GET /django/admin/login/?next=/django/admin/
--- response_headers
Content-Type: text/html; charset=utf-8
--- raw_response_headers_like: \r\nSet-Cookie: +csrftoken=
--- response_body_like: <link rel="stylesheet" href="/django/static/admin/css/base.css">.*<form action="/django/admin/login/\?next=/django/admin/" method="post" id="login-form"><input type="hidden" name="csrfmiddlewaretoken" value="[A-Za-z0-9]{64}">.*name="username".*name="password"


=== TEST 8: the admin sends an anonymous user to its login page
--- request
GET /django/admin/
--- error_code: 302
--- response_headers
Location: /django/admin/login/?next=/django/admin/


=== TEST 9: Django's ALLOWED_HOSTS sees the Host header
--- request
GET /django/api/notes/
--- more_headers
Host: evil.example
--- error_code: 400
--- error_log
Invalid HTTP_HOST header: 'evil.example'. You may need to add 'evil.example' to ALLOWED_HOSTS.


=== TEST 10: an unknown path is Django's 404
--- request
GET /django/nope/
--- error_code: 404
--- response_body_like: <h1>Not Found</h1>
--- error_log
Not Found: /django/nope/


=== TEST 11: through nginx, a browser's flow: GET the form, POST it with its token, follow the redirect
--- request
GET /drive/notes
--- response_body
GET /django/notes/: 200, csrftoken cookie: yes, token in the form: yes
POST with the token: 302 -> /django/notes/1/
GET /django/notes/1/: 200 note 1: through nginx | größer als
POST without cookie or token: 403
POST with the cookie and a wrong token: 403
GET /django/api/notes/: 200 {"count": 1, "notes": [{"id": 1, "title": "through nginx", "url": "/django/notes/1/"}], "form_url": "/django/notes/", "absolute": "http://127.0.0.1:$ServerPort/django/api/notes/", "path": "/django/api/notes/", "path_info": "/api/notes/", "script_name": "/django"}
--- error_log
Forbidden (CSRF cookie not set.): /django/notes/
Forbidden (CSRF token from POST incorrect.): /django/notes/
--- no_error_log
[alert]


=== TEST 12: through nginx, log in to the admin and add a note there
--- request
GET /drive/admin
--- response_body
GET /django/admin/: 302 -> /django/admin/login/?next=/django/admin/
GET the login page: 200, form action: /django/admin/login/?next=/django/admin/, token: yes
POST a wrong password: 200, the form says so: yes
POST the right password: 302 -> /django/admin/, session cookie: yes
GET /django/admin/: 200, "Site administration": yes, notes links: /django/admin/notes/ /django/admin/notes/note/ /django/admin/notes/note/add/
POST a note in the admin: 302 -> /django/admin/notes/note/
the admin's note list: 200, shows it: yes


=== TEST 13: Django's ASGIHandler raises on the lifespan scope: asgi_lifespan auto serves it without lifespan, with an [info] line only
--- request
GET /django/api/notes/
--- response_body chomp
{"count": 0, "notes": [], "form_url": "/django/notes/", "absolute": "http://localhost/django/api/notes/", "path": "/django/api/notes/", "path_info": "/api/notes/", "script_name": "/django"}
--- error_log eval
qr/\[info\] .*wsgi: app "djproj\.asgi:application" does not do the lifespan protocol \(asgi_lifespan auto\): served without it/
--- no_error_log
[error]
[alert]
--- log_level: info


=== TEST 14: an async view on the worker's loop, with the ORM's async API, after a note was saved
--- request eval
["POST /django/notes/\ncsrfmiddlewaretoken=$::CsrfToken&title=async+note",
 "GET /django/api/async/"]
--- more_headers eval
["Content-Type: application/x-www-form-urlencoded\nCookie: csrftoken=$::CsrfSecret", ""]
--- error_code eval
[302, 200]
--- response_headers eval
["Location: /django/notes/1/", "Content-Type: application/json"]
--- response_body eval
["",
 '{"count": 1, "titles": ["async note"], "loop": "asyncio.unix_events", "path": "/django/api/async/", "path_info": "/api/async/", "script_name": "/django", "asgi": true}']


=== TEST 15: asgi_loop auto (the default): uvloop, since the venv has it
--- http_config
    wsgi_python_home $TEST_NGINX_FRAMEWORKS_VENV;
    wsgi_python_path $TEST_NGINX_APPS/frameworks;
--- request
GET /django/api/async/
--- response_body chomp
{"count": 0, "titles": [], "loop": "uvloop", "path": "/django/api/async/", "path_info": "/api/async/", "script_name": "/django", "asgi": true}
