# wsgi_python_home and the Python the module was built against: a
# virtualenv or a prefix of another Python fails `nginx -t` (and a worker
# that meets one at start), with both versions and the fixes in the message,
# instead of Python starting from the wrong standard library and
# site-packages.
#
# Needs TEST_NGINX_VENV (a venv of the module's Python, TEST_NGINX_PYTHON,
# default /usr/bin/python3) and TEST_NGINX_OTHER_VENV (a venv of another
# Python); scripts/test.sh makes both, the second when another Python is
# installed. The versions expected are asked of the interpreters themselves.
use Test::Nginx::Socket;
use File::Temp qw(tempdir);

sub python ($$) {
    my ($python, $code) = @_;
    my $out = `"$python" -c '$code'`;
    die "$python did not run\n" if $? != 0;
    chomp $out;
    return $out;
}

if (!$ENV{TEST_NGINX_OTHER_VENV}) {
    plan skip_all => 'TEST_NGINX_OTHER_VENV is not set: no virtualenv of another Python';
}
plan 'no_plan';

our $Built = python($ENV{TEST_NGINX_PYTHON} || '/usr/bin/python3',
                    'import sys; print("%d.%d" % sys.version_info[:2])');
our $Other = python("$ENV{TEST_NGINX_OTHER_VENV}/bin/python3",
                    'import sys; print("%d.%d" % sys.version_info[:2])');
our $OtherPrefix = python("$ENV{TEST_NGINX_OTHER_VENV}/bin/python3",
                          'import sys; print(sys.base_prefix)');
die "TEST_NGINX_OTHER_VENV is a venv of Python $Other, the module's own\n"
    if $Other eq $Built;
$ENV{TEST_NGINX_OTHER_PREFIX} = $OtherPrefix;
# A symlink that wsgi_python_home names, which TEST 4 points elsewhere.
$ENV{TEST_NGINX_HOME_LINK} = tempdir('ngx-wsgi-python-home-XXXXXX', TMPDIR => 1, CLEANUP => 1) . '/venv';

no_shuffle();
no_root_location();
master_on();
workers(1);
run_tests();

__DATA__

=== TEST 1: a virtualenv of the module's Python serves, on that Python
--- http_config
    wsgi_python_home $TEST_NGINX_VENV;
    wsgi_python_path $TEST_NGINX_APPS;
--- config
    location / { wsgi_app python_home:version; }
--- request
GET /
--- response_body eval
"python=$::Built prefix=$ENV{TEST_NGINX_VENV}\n"
--- no_error_log
[error]


=== TEST 2: a virtualenv of another Python fails nginx -t, naming both and the fixes
--- http_config
    wsgi_python_home $TEST_NGINX_OTHER_VENV;
--- config
--- must_die
--- error_log eval
[
qr/\[emerg\] .*"wsgi_python_home" "\Q$ENV{TEST_NGINX_OTHER_VENV}\E" is a virtualenv of Python \Q$::Other\E, and ngx-wsgi was built against Python \Q$::Built\E \(/,
qr/: make the virtualenv with Python \Q$::Built\E \(\S+ -m venv \Q$ENV{TEST_NGINX_OTHER_VENV}\E\), or rebuild ngx-wsgi with PYO3_PYTHON=\S+python\Q$::Other\E /,
]


=== TEST 3: a prefix of another Python fails nginx -t
--- http_config
    wsgi_python_home $TEST_NGINX_OTHER_PREFIX;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"wsgi_python_home" "\Q$::OtherPrefix\E" is a prefix of Python [0-9., ]*\Q$::Other\E[0-9., ]*, and ngx-wsgi was built against Python \Q$::Built\E .*PYO3_PYTHON=\Q$::OtherPrefix\E\/bin\/python/


=== TEST 4: a worker that meets a virtualenv of another Python at start says so
--- post_setup_server_root
unlink $ENV{TEST_NGINX_HOME_LINK};
symlink $ENV{TEST_NGINX_VENV}, $ENV{TEST_NGINX_HOME_LINK} or die "symlink: $!";
--- http_config
    wsgi_python_home $TEST_NGINX_HOME_LINK;
    wsgi_python_path $TEST_NGINX_APPS;
--- config
    location /swap {
        wsgi_param SWAP_LINK $TEST_NGINX_HOME_LINK;
        wsgi_param SWAP_TO $TEST_NGINX_OTHER_VENV;
        wsgi_app python_home:swap_and_die;
    }
    location / { wsgi_app python_home:version; }
--- request
GET /swap
--- abort
--- ignore_response
--- wait: 0.5
--- error_log eval
[
qr/worker process \d+ exited on signal 9/,
qr/\[error\] .*wsgi: Python failed to start: "wsgi_python_home" "\Q$ENV{TEST_NGINX_HOME_LINK}\E" is a virtualenv of Python \Q$::Other\E, and ngx-wsgi was built against Python \Q$::Built\E /,
]


=== TEST 5: ... and its requests get 500
--- request
GET /
--- error_code: 500
--- response_body
500 Internal Server Error: Python is not available in this worker
--- error_log
Python is not available in this worker (see the error at worker start)
