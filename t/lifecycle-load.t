# Reload, quit and worker recycling under load lose no accepted request
# (issues "nothing lost" and "run it in production"): 300 keep-alive
# connections on two workers ask for a small app in a loop
# (t/tools/load.py) while nginx is reloaded twice, then while it quits;
# then while workers recycle after wsgi_max_requests, and while one
# recycles because a thread never came back from wsgi_request_timeout.
# Every request the client counts as answered must be a whole 200, and
# nginx's access log must show exactly those: a 503 from a full queue, a
# response nginx logged but the client never got whole, or a request cut
# short all fail the test. What nginx normally does is allowed: a keep-alive
# connection that an old worker closes between two requests (the client
# sends the request again, once), and, after quit, new connections refused.
#
# Like t/lifecycle.t, this drives nginx itself (signals mid-load); it reads
# the same TEST_NGINX_* variables. The load is bounded: 6, 4, 6 and 5 s.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use FindBin ();
use JSON::PP ();
use Time::HiRes qw(sleep time);

my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
my @modules = split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');
my $apps = $ENV{TEST_NGINX_APPS} or plan skip_all => 'TEST_NGINX_APPS is not set';
my $port = ($ENV{TEST_NGINX_PORT} || 1984) + 2;
my $load = "$FindBin::Bin/tools/load.py";
my $root = tempdir('ngx-wsgi-load-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{TEST_NGINX_NO_CLEAN});
mkdir "$root/$_" for qw(conf logs);

# The configuration, with `@extra` lines in the http block.
sub write_conf {
    my (@extra) = @_;
    my $extra = join '', map { "    $_\n" } @extra;
    open my $f, '>', "$root/conf/nginx.conf" or die $!;
    print $f "load_module $_;\n" for @modules;
    print $f "user root;\n" if $> == 0;
    print $f <<"CONF";
master_process on;
worker_processes 2;
daemon on;
error_log logs/error.log info;
pid logs/nginx.pid;
events { worker_connections 2048; }
http {
    log_format st '\$status \$body_bytes_sent';
    access_log logs/access.log st;
    wsgi_python_path $apps;
$extra    server {
        listen 127.0.0.1:$port;
        location / { wsgi_app queueing:sleepy; }
        location /sleeper { wsgi_request_timeout 300ms 500ms; wsgi_app timeouts:sleeper; }
    }
}
CONF
    close $f;
}

sub read_pid { open my $f, '<', "$root/logs/nginx.pid" or return; my $p = <$f> // ''; chomp $p; $p =~ /^\d+$/ ? $p : undef }
sub alive { my $pid = shift; $pid && kill(0, $pid) }
sub wait_for {
    my ($cond, $secs) = @_;
    my $until = time + $secs;
    while (time < $until) { return 1 if $cond->(); sleep 0.05 }
    return $cond->();
}

# The access log's statuses: { status => count }.
sub logged {
    open my $f, '<', "$root/logs/access.log" or return {};
    my %n;
    while (<$f>) { my ($st) = split ' '; $n{$st}++ }
    return \%n;
}

sub start_nginx {
    unlink "$root/logs/access.log", "$root/logs/error.log";
    is system($nginx, '-p', "$root/", '-c', 'conf/nginx.conf'), 0, 'nginx starts';
    ok wait_for(sub { read_pid() }, 10), 'it writes its pid file';
    return read_pid();
}

# Run the load for $secs seconds, sending each signal of @plan (after its
# delay); returns the client's counts.
sub under_load {
    my ($master, $secs, @plan) = @_;
    open my $out, '-|', 'python3', $load, $port, '/', 300, $secs or die "cannot run $load: $!";
    my $t0 = time;
    for my $step (@plan) {
        my ($at, $sig) = @$step;
        sleep($at - (time - $t0)) if $at > time - $t0;
        ok kill($sig, $master), "$sig at ${at}s";
    }
    local $/;
    my $json = <$out>;
    close $out;
    return JSON::PP->new->decode($json || '{}');
}

# Phase 1: two reloads.
write_conf();
my $master = start_nginx();
my $c = under_load($master, 6, [1.5, 'HUP'], [3.5, 'HUP']);
my $log = logged();
diag sprintf "reloads: %d requests answered, %d failed, %d sent again after a keep-alive close, %d refused",
    $c->{ok}, $c->{failed}, $c->{retried}, $c->{refused};
ok $c->{ok} > 1000, 'the load ran';
is $c->{failed}, 0, 'no request failed during the reloads'
    or diag JSON::PP->new->canonical->encode($c->{statuses});
is $c->{refused}, 0, 'no connection was refused: the listening sockets stayed open';
is_deeply [sort keys %$log], ['200'], 'nginx logged only 200s' or diag explain $log;
is $log->{200}, $c->{ok}, 'every response nginx logged reached the client whole';
is scalar(error_log_lines(qr/\[(alert|emerg|crit)\]|request refused/)), 0, 'no alerts and no refused requests in the error log';
kill 'QUIT', $master;
ok wait_for(sub { !alive($master) }, 15), 'nginx quits';

# Phase 2: quit under load.
$master = start_nginx();
$c = under_load($master, 4, [1.5, 'QUIT']);
$log = logged();
diag sprintf "quit: %d requests answered, %d failed, %d sent again after a keep-alive close, %d refused after the quit",
    $c->{ok}, $c->{failed}, $c->{retried}, $c->{refused};
ok $c->{ok} > 500, 'the load ran';
is $c->{failed}, 0, 'no request in flight failed during the quit'
    or diag JSON::PP->new->canonical->encode($c->{statuses});
is_deeply [sort keys %$log], ['200'], 'nginx logged only 200s' or diag explain $log;
is $log->{200}, $c->{ok}, 'every response nginx logged reached the client whole';
ok wait_for(sub { !alive($master) }, 15), 'nginx has exited';

sub error_log_lines {
    my ($re) = @_;
    open my $el, '<', "$root/logs/error.log" or die $!;
    return grep { /$re/ } <$el>;
}
my @bad = error_log_lines(qr/\[(alert|emerg|crit)\]|request refused/);
is scalar(@bad), 0, 'no alerts and no refused requests in the error log' or diag @bad;

# Phase 3: workers recycle after about 400 requests each, under load.
write_conf('wsgi_max_requests 400 100;');
$master = start_nginx();
$c = under_load($master, 6);
$log = logged();
my @recycled = error_log_lines(qr/\[notice\] .*wsgi: recycling this worker: it has served \d+ requests \(wsgi_max_requests\)/);
diag sprintf "recycling: %d requests answered, %d failed, %d sent again after a keep-alive close, %d refused; %d recycles",
    $c->{ok}, $c->{failed}, $c->{retried}, $c->{refused}, scalar @recycled;
ok @recycled >= 4, 'workers recycled, each logged at notice with its reason';
is $c->{failed}, 0, 'no request failed while workers recycled'
    or diag JSON::PP->new->canonical->encode($c->{statuses});
is $c->{refused}, 0, 'no connection was refused';
is_deeply [sort keys %$log], ['200'], 'nginx logged only 200s' or diag explain $log;
is $log->{200}, $c->{ok}, 'every response nginx logged reached the client whole';
ok scalar(error_log_lines(qr/\[notice\] .*start worker process/)) >= 2 + @recycled, 'the master started a worker for each recycled one';
kill 'QUIT', $master;
ok wait_for(sub { !alive($master) }, 15), 'nginx quits';

# Phase 4: a request sleeps past wsgi_request_timeout and its grace: the
# client gets 504 at the deadline, its worker recycles, and the load on the
# other threads and workers loses nothing.
write_conf('wsgi_threads 4;');
$master = start_nginx();
open my $out, '-|', 'python3', $load, $port, '/', 100, 5 or die "cannot run $load: $!";
sleep 1;
my $curl = `curl -s -m 20 -o /dev/null -w '%{http_code}' http://127.0.0.1:$port/sleeper?100`;
is $curl, '504', 'the sleeping request gets 504';
ok wait_for(sub { error_log_lines(qr/\[notice\] .*wsgi: recycling this worker: a thread did not come back within 500 ms of wsgi_request_timeout/) }, 10),
    'its worker recycles, and says why at notice';
$c = JSON::PP->new->decode(do { local $/; <$out> } || '{}');
close $out;
$log = logged();
diag sprintf "stuck thread: %d requests answered, %d failed, %d sent again after a keep-alive close, %d refused",
    $c->{ok}, $c->{failed}, $c->{retried}, $c->{refused};
is $c->{failed}, 0, 'no other request failed';
is $c->{refused}, 0, 'no connection was refused';
is $log->{200}, $c->{ok}, 'every 200 nginx logged reached the client whole';
is_deeply [sort grep { $_ ne '200' } keys %$log], ['504'], 'the only other status logged is the 504';
ok scalar(error_log_lines(qr/worker process \d+ exited with code 0/)) >= 1, 'the stuck worker exited';
@bad = error_log_lines(qr/\[(alert|emerg|crit)\]/);
is scalar(@bad), 0, 'no alerts (no open socket left behind by the exiting worker)' or diag @bad;
kill 'QUIT', $master;
ok wait_for(sub { !alive($master) }, 15), 'nginx quits';

done_testing();

END {
    my $pid = read_pid();
    kill 'TERM', $pid if $pid && alive($pid);
}
