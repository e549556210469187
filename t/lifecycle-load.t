# Reload and quit under load lose no accepted request (issue "nothing
# lost"): 300 keep-alive connections on two workers ask for a small app in a
# loop (t/tools/load.py) while nginx is reloaded twice, then while it quits.
# Every request the client counts as answered must be a whole 200, and
# nginx's access log must show exactly those: a 503 from a full queue, a
# response nginx logged but the client never got whole, or a request cut
# short all fail the test. What nginx normally does is allowed: a keep-alive
# connection that an old worker closes between two requests (the client
# sends the request again, once), and, after quit, new connections refused.
#
# Like t/lifecycle.t, this drives nginx itself (signals mid-load); it reads
# the same TEST_NGINX_* variables. The load is bounded: 6 s, then 4 s.
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

{
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
    server {
        listen 127.0.0.1:$port;
        location / { wsgi_app queueing:sleepy; }
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
    unlink "$root/logs/access.log";
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

open my $el, '<', "$root/logs/error.log" or die $!;
my @bad = grep { /\[(alert|emerg|crit)\]|request refused/ } <$el>;
is scalar(@bad), 0, 'no alerts and no refused requests in the error log' or diag @bad;

done_testing();

END {
    my $pid = read_pid();
    kill 'TERM', $pid if $pid && alive($pid);
}
