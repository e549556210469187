# Worker lifecycle with Python inside: `nginx -s reload` gives new workers
# with the new code while the old ones finish what they hold, `nginx -s quit`
# finishes requests in flight, and an app that fails to import is logged
# once per worker, not per request.
#
# Test::Nginx has no hook for signalling nginx in the middle of a request,
# so this suite drives nginx itself; it reads the same TEST_NGINX_*
# variables and needs nothing beyond Perl's core modules.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);

my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
my @modules = split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');
my $apps = $ENV{TEST_NGINX_APPS} or plan skip_all => 'TEST_NGINX_APPS is not set';
my $port = ($ENV{TEST_NGINX_PORT} || 1984) + 1;
my $root = tempdir('ngx-wsgi-lifecycle-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{TEST_NGINX_NO_CLEAN});
mkdir "$root/$_" for qw(conf logs app);

sub write_app {
    my ($version) = @_;
    open my $f, '>', "$root/app/lifeapp.py" or die $!;
    print $f <<"PY";
import os, time
VERSION = "$version"
def application(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        time.sleep(float(environ["QUERY_STRING"] or 2))
    if environ["PATH_INFO"] == "/exit":
        os._exit(3)
    body = ("%s pid=%d\\n" % (VERSION, os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
PY
    close $f;
    # As a deploy would: a new mtime, so that Python's bytecode cache (which
    # compares mtime and size to the second) does not serve the old code.
    my $t = time + ($version eq 'v1' ? 0 : 10);
    utime $t, $t, "$root/app/lifeapp.py";
}

write_app('v1');
{
    open my $f, '>', "$root/conf/nginx.conf" or die $!;
    print $f "load_module $_;\n" for @modules;
    print $f "user root;\n" if $> == 0;
    print $f <<"CONF";
master_process on;
worker_processes 1;
daemon on;
error_log logs/error.log info;
pid logs/nginx.pid;
events { worker_connections 256; }
http {
    access_log off;
    wsgi_python_path $root/app;
    wsgi_python_path $apps;
    server {
        listen 127.0.0.1:$port;
        location / { wsgi_app lifeapp; }
        location /broken { wsgi_app broken_syntax; }
    }
}
CONF
    close $f;
}

sub start_request {
    my ($path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5)
        or return;
    print $s "GET $path HTTP/1.0\r\nHost: localhost\r\n\r\n";
    return $s;
}

sub finish_request {
    my ($s) = @_;
    return (0, '') unless $s;
    local $/;
    my $resp = <$s> // '';
    close $s;
    my ($status) = $resp =~ m{^HTTP/1\.\d (\d+)};
    my (undef, $body) = split /\r\n\r\n/, $resp, 2;
    return ($status // 0, $body // '');
}

sub get { finish_request(start_request($_[0])) }

sub wait_for {
    my ($cond, $secs) = @_;
    my $until = time + $secs;
    while (time < $until) {
        return 1 if $cond->();
        sleep 0.05;
    }
    return $cond->();
}

sub read_pid { open my $f, '<', "$root/logs/nginx.pid" or return; my $p = <$f> // ''; chomp $p; $p =~ /^\d+$/ ? $p : undef }
sub alive { my $pid = shift; $pid && kill(0, $pid) }
sub log_count {
    my ($re) = @_;
    open my $f, '<', "$root/logs/error.log" or return 0;
    return scalar grep { /$re/ } <$f>;
}

is system($nginx, '-p', "$root/", '-c', 'conf/nginx.conf'), 0, 'nginx starts';
ok wait_for(sub { read_pid() }, 10), 'nginx writes its pid file';
my $master = read_pid();
ok wait_for(sub { (get('/'))[0] == 200 }, 10), 'the app answers';

my ($st, $body) = get('/');
like $body, qr/^v1 pid=(\d+)$/, 'the first version serves';
my ($old_worker) = $body =~ /pid=(\d+)/;

# Import failures: logged once per worker, whatever the number of requests.
is((get('/broken'))[0], 500, 'a broken app answers 500') for 1 .. 3;
is log_count(qr/failed to load app "broken_syntax:application"/), 1, 'its traceback is logged once';
is log_count(qr/app "broken_syntax:application" is not available/), 3, 'each refused request is logged';

# Reload with a request in flight.
my $slow = start_request('/slow?2');
sleep 0.5;
write_app('v2');
ok kill('HUP', $master), 'reload (HUP)';
ok wait_for(sub { (get('/'))[1] =~ /^v2 / }, 10), 'new workers run the new code';
($st, $body) = finish_request($slow);
is $st, 200, 'the request in flight during the reload completes';
is $body, "v1 pid=$old_worker\n", '... served whole by the old worker';
ok wait_for(sub { !alive($old_worker) }, 10), 'the old worker exits once it is done';
is log_count(qr/failed to load app "broken_syntax:application"/), 2, 'the new worker logged its own import failure';

# An app that kills its process (os._exit, or a crash in a C extension)
# takes the worker down with the connections it holds; the master starts
# a new one, which serves the next request (see the README's Isolation).
{
    my ($pid_before) = ((get('/'))[1] =~ /pid=(\d+)/);
    my ($st, $body) = get('/exit');
    is $st, 0, 'the request that killed its worker gets no response';
    ok wait_for(sub { ((get('/'))[1] // '') =~ /^v2 pid=(\d+)$/ && $1 != $pid_before }, 10),
        'a new worker serves the next request';
    is log_count(qr/worker process $pid_before exited with code 3/), 1, 'the master logged the exit';
}

# Quit with a request in flight.
($st, $body) = get('/');
my ($new_worker) = $body =~ /pid=(\d+)/;
$slow = start_request('/slow?2');
sleep 0.5;
ok kill('QUIT', $master), 'graceful quit (QUIT)';
($st, $body) = finish_request($slow);
is $st, 200, 'the request in flight during quit completes';
is $body, "v2 pid=$new_worker\n", '... with its whole body';
ok wait_for(sub { !alive($master) && !alive($new_worker) }, 10), 'nginx exits after it';

is log_count(qr/\[(alert|emerg|crit)\]/), 0, 'no alerts in the error log'
    or diag `grep -E '\\[(alert|emerg|crit)\\]' $root/logs/error.log`;

done_testing();

END {
    # Whatever happened above, stop the nginx this suite started.
    my $pid = read_pid();
    kill 'TERM', $pid if $pid && alive($pid);
}
