package Test::Nginx::Util;

# A compatible subset of CPAN's Test::Nginx::Util (openresty/test-nginx),
# written for the ngx-wsgi project because CPAN is not reachable on the
# build machines.  Only Perl core modules and a few Debian-packaged CPAN
# modules (Test::Base, Test::LongString, HTTP::Response, ...) are used.
#
# This module owns the nginx life cycle: configuration generation, server
# root setup, starting/stopping nginx, reading the error log, and the main
# run_tests() loop.  The HTTP client and the per-block checks live in
# Test::Nginx::Socket.  See the POD at the end of Test/Nginx/Socket.pm.

use strict;
use warnings;

our $VERSION = '0.33_ngx_wsgi';

use base 'Exporter';

use POSIX qw( SIGQUIT SIGKILL SIGTERM :sys_wait_h );
use File::Spec ();
use File::Path qw( make_path remove_tree );
use File::Temp qw( tempfile );
use List::Util qw( shuffle );
use Time::HiRes qw( sleep time );
use Scalar::Util qw( looks_like_number );
use IO::Socket::INET ();
use Carp qw( croak );
use Config ();
use Test::More ();
use Test::LongString ();

our @EXPORT = qw(
    expand_env_in_text env_to_nginx is_str is_running
    $NoLongString no_long_string
    $ServerAddr server_addr $ServerName server_name
    parse_time verbose sleep_time bail_out
    add_cleanup_handler add_test_cleanup_handler
    access_log_data error_log_data
    setup_server_root write_user_files write_config_file
    get_canon_version get_nginx_version trim show_all_chars
    parse_headers run_tests get_pid_from_pidfile
    $ServerPortForClient $ServerPort $NginxVersion $PidFile $ServRoot
    $ConfFile $RunTestHelper $CheckErrorLog $CheckShutdownErrorLog
    $FilterHttpConfig $RepeatEach $CheckLeak $Benchmark
    add_block_preprocessor timeout worker_connections workers
    master_on master_off config_preamble repeat_each
    master_process_enabled log_level no_shuffle no_root_location
    html_dir server_root server_port server_port_for_client
    no_nginx_manager check_accum_error_log
    is_tcp_port_used
);

sub bail_out (@);
sub expand_env_in_text ($$$);
sub kill_process ($$$);

# ---------------------------------------------------------------------
# Settings (same environment variables and defaults as the real module)
# ---------------------------------------------------------------------

our $Verbose            = $ENV{TEST_NGINX_VERBOSE};
our $NoLongString;
our $FirstTime          = 1;
our $RepeatEach         = 1;
our $LoadModules        = $ENV{TEST_NGINX_LOAD_MODULES};
our $NoShuffle          = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $Timeout            = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $CheckAccumErrLog   = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $NoNginxManager     = $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0;
our $CheckLeak          = 0;    # not supported; kept for API compatibility
our $Benchmark          = 0;    # not supported; kept for API compatibility
our $ServerAddr         = '127.0.0.1';
our $ServerName         = 'localhost';
our $WorkerUser         = $ENV{TEST_NGINX_WORKER_USER};
our $Randomize          = $ENV{TEST_NGINX_RANDOMIZE};
our $NginxBinary        = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $Workers            = 1;
our $WorkerConnections  = 64;
our $LogLevel           = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $DaemonEnabled      = 'on';
our $ServerPort         = $ENV{TEST_NGINX_SERVER_PORT}
                          || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $NoRootLocation     = 0;
our $TestNginxSleep     = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $ForceRestartOnTest = defined $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST}
                          ? $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} : 1;

if (defined $WorkerUser && $WorkerUser !~ /^\w[-\w]+(?:\s+\w[-\w]+)?$/) {
    die "Bad value in the env TEST_NGINX_WORKER_USER: $WorkerUser\n";
}

for my $unsupported (qw( TEST_NGINX_USE_HUP TEST_NGINX_USE_VALGRIND
                         TEST_NGINX_USE_STAP TEST_NGINX_CHECK_LEAK
                         TEST_NGINX_BENCHMARK TEST_NGINX_USE_HTTP2
                         TEST_NGINX_USE_HTTP3 TEST_NGINX_USE_RR ))
{
    if ($ENV{$unsupported}) {
        warn "WARNING: $unsupported is not supported by the ngx-wsgi "
             . "Test::Nginx subset and is ignored.\n";
    }
}

our @CleanupHandlers;
our @TestCleanupHandlers;
our @BlockPreprocessors;
our @EnvToNginx;
our $ConfigPreamble = '';
our $FilterHttpConfig;
our $RunTestHelper;
our $CheckErrorLog;
our $CheckShutdownErrorLog;
our $NginxVersion;
our $NginxRawVersion;
our $OpenSSLVersion;
our $NginxV;            # cached output of "nginx -V"
our $PrevConfig;
our $PrevBlock;
our $ErrLogFilePos = 0;
our $RandPorts = {};
our $InSubprocess;
our $NginxStderrFile;   # stderr of the last "nginx" start command
our @ExtraErrLogLines;  # stderr lines to be considered by error_log checks

srand($$ ^ time);

sub is_tcp_port_used ($);
sub gen_rand_port (;$$);

if ($Randomize) {
    my $port = gen_rand_port(1000);
    if (!defined $port) {
        bail_out "Cannot find an available listening port number.\n";
    }
    $ServerPort = $ServerPortForClient = $port;
}

our $ServRoot;
if ($Randomize) {
    $ServRoot = File::Spec->rel2abs("t/servroot_" . $ServerPort);
} else {
    $ServRoot = $ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot');
}
$ServRoot = File::Spec->rel2abs($ServRoot);
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = File::Spec->catfile($ServRoot, 'logs');
our $ErrLogFile = File::Spec->catfile($LogDir, 'error.log');
our $AccLogFile = File::Spec->catfile($LogDir, 'access.log');
our $HtmlDir    = File::Spec->catfile($ServRoot, 'html');
our $ConfDir    = File::Spec->catfile($ServRoot, 'conf');
our $ConfFile   = File::Spec->catfile($ConfDir, 'nginx.conf');
our $PidFile    = File::Spec->catfile($LogDir, 'nginx.pid');
our $CacheDir   = File::Spec->catfile($ServRoot, 'cache');

# Not set by the real module (it only documents the variable), but handy
# for $TEST_NGINX_HTML_DIR in configs: default it to our html dir.
$ENV{TEST_NGINX_HTML_DIR} //= $HtmlDir;

# ---------------------------------------------------------------------
# Small accessors (same names and semantics as the real module)
# ---------------------------------------------------------------------

sub no_long_string () { $NoLongString = 1 }
sub no_shuffle ()     { $NoShuffle = 1 }
sub no_nginx_manager () { $NoNginxManager = 1 }
sub no_root_location () { $NoRootLocation = 1 }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub master_on ()      { $MasterProcessEnabled = 'on' }
sub master_off ()     { $MasterProcessEnabled = 'off' }
sub sleep_time        { $TestNginxSleep }
sub verbose           { $Verbose }
sub html_dir ()       { $HtmlDir }
sub server_root ()    { $ServRoot }
sub config_preamble ($) { $ConfigPreamble = shift }

sub _getset {
    my ($ref, @args) = @_;
    if (@args) {
        $$ref = $args[0];
        return;
    }
    return $$ref;
}

sub server_addr (@)        { _getset(\$ServerAddr, @_) }
sub server_name (@)        { _getset(\$ServerName, @_) }
sub timeout (@)            { _getset(\$Timeout, @_) }
sub workers (@)            { _getset(\$Workers, @_) }
sub worker_connections (@) { _getset(\$WorkerConnections, @_) }
sub log_level (@)          { _getset(\$LogLevel, @_) }
sub server_port (@)        { _getset(\$ServerPort, @_) }
sub server_port_for_client (@) { _getset(\$ServerPortForClient, @_) }

sub repeat_each (@) {
    if (@_) {
        $RepeatEach = shift;
    }
    return $RepeatEach;
}

sub master_process_enabled (@) {
    if (@_) {
        $MasterProcessEnabled = shift() ? 'on' : 'off';
        return;
    }
    return $MasterProcessEnabled;
}

sub env_to_nginx (@) {
    croak "env_to_nginx: no arguments specified" if !@_;
    for my $v (@_) {
        if ($v !~ /^[A-Za-z_]/ || $v =~ /\n/) {
            croak "env_to_nginx: bad argument value: $v\n";
        }
        push @EnvToNginx, $v;
    }
}

sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($)     { unshift @CleanupHandlers, shift }
sub add_test_cleanup_handler ($) { unshift @TestCleanupHandlers, shift }

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }
    if ($NoLongString) {
        return Test::More::is($got, $expected, $desc);
    }
    return Test::LongString::is_string($got, $expected, $desc);
}

sub parse_time ($) {
    my $tm = shift;
    if (defined $tm) {
        if ($tm =~ s/([^_a-zA-Z])ms$/$1/) {
            $tm = $tm / 1000;
        } else {
            $tm =~ s/([^_a-zA-Z])s$/$1/;
        }
    }
    return $tm;
}

sub trim ($) {
    my $s = shift;
    return undef if !defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\n/ /gs;
    $s =~ s/\s{2,}/ /gs;
    return $s;
}

sub show_all_chars ($) {
    my $s = shift;
    $s =~ s/\n/\\n/gs;
    $s =~ s/\r/\\r/gs;
    $s =~ s/\t/\\t/gs;
    return $s;
}

# "Name: value" lines => { name => value }; "!Name" => { Name => undef }
sub parse_headers ($) {
    my $s = shift;
    my %headers;
    for my $line (split /\n/, $s) {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) {
            $headers{$line} = undef;
        } else {
            my ($key, $val) = split /\s*:\s*/, $line, 2;
            $headers{$key} = $val;
        }
    }
    return \%headers;
}

sub get_canon_version (@) {
    sprintf "%d.%03d%03d", $_[0], $_[1], $_[2];
}

sub nginx_V () {
    if (!defined $NginxV) {
        my $out = `$NginxBinary -V 2>&1`;
        if (!defined $out || $? != 0) {
            $out //= '';
            bail_out("Failed to run \"$NginxBinary -V\" "
                     . "(set TEST_NGINX_BINARY?): $out");
        }
        $NginxV = $out;
    }
    return $NginxV;
}

sub get_nginx_version () {
    my $out = nginx_V();
    if ($out =~ m{built with OpenSSL (\d+)\.(\d+)\.(\d+)}s) {
        $OpenSSLVersion = get_canon_version($1, $2, $3);
    }
    if ($out =~ m{(?:nginx|openresty)[^/]*/(\d+)\.(\d+)\.(\d+)}s
        || $out =~ m{\w+/(\d+)\.(\d+)\.(\d+)}s)
    {
        $NginxRawVersion = "$1.$2.$3";
        return get_canon_version($1, $2, $3);
    }
    bail_out("Failed to parse the output of \"nginx -V\": $out\n");
}

sub can_run ($) {
    my $cmd = shift;
    if ($cmd =~ m{/}) {
        return (-f $cmd && -x _) ? $cmd : undef;
    }
    for my $dir (split /\Q$Config::Config{path_sep}\E/, $ENV{PATH} // '') {
        next if $dir eq '';
        my $abs = File::Spec->catfile($dir, $cmd);
        return $abs if -f $abs && -x _;
    }
    return undef;
}

# ---------------------------------------------------------------------
# Ports and processes
# ---------------------------------------------------------------------

# Is the TCP port in the LISTEN state?  Looked up in /proc/net/tcp{,6} so
# that no connection is made (a probing connection would leave "client
# closed connection" lines in the error log).  Falls back to a bind test.
sub is_tcp_port_used ($) {
    my $port = shift;
    my $hex = sprintf '%04X', $port;
    my $have_proc;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $in, '<', $f or next;
        $have_proc = 1;
        while (<$in>) {
            # sl local_address rem_address st ...
            my @f = split;
            next unless @f > 3 && $f[1] =~ /:([0-9A-F]{4})$/;
            return 1 if $1 eq $hex && $f[3] eq '0A';
        }
        close $in;
    }
    return 0 if $have_proc;

    my $sock = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1', LocalPort => $port,
        Proto => 'tcp', ReuseAddr => 1, Listen => 1);
    return 0 if $sock;
    return 1;
}

sub gen_rand_port (;$$) {
    my ($tries, $used) = @_;
    $tries ||= 1000;
    $used ||= {};
    for (1 .. $tries) {
        my $port = int(rand 63550) + 1985;
        next if $used->{$port};
        next if is_tcp_port_used($port);
        my $sock = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1', LocalPort => $port,
            Proto => 'tcp', ReuseAddr => 1, Listen => 1) or next;
        close $sock;
        return $port;
    }
    return undef;
}

# kill(0) alone is not enough: nginx daemonizes, so its parent is PID 1,
# which in containers often does not reap zombies.  Treat zombies as gone.
sub is_running ($) {
    my $pid = shift;
    return 0 if !$pid || $pid !~ /^\d+$/;
    waitpid($pid, WNOHANG);   # reap it if it happens to be our child
    return 0 unless kill 0, $pid;
    if (open my $in, '<', "/proc/$pid/stat") {
        my $stat = do { local $/; <$in> } // '';
        close $in;
        if ($stat =~ /\)\s+([A-Za-z])/) {
            return 0 if $1 eq 'Z' || $1 eq 'X';
        }
    }
    return 1;
}

sub get_pid_from_pidfile ($) {
    my $name = shift;
    open my $in, '<', $PidFile or return undef;
    my $pid = do { local $/; <$in> };
    close $in;
    return undef if !defined $pid;
    $pid =~ s/\s+//g;
    return $pid =~ /^\d+$/ ? $pid : undef;
}

# Gracefully stop $pid (SIGQUIT, or SIGTERM when TEST_NGINX_FAST_SHUTDOWN
# is set), wait up to timeout() seconds, then SIGKILL its process group.
sub kill_process ($$$) {
    my ($pid, $wait, $name) = @_;
    return if !is_running($pid);

    my $sig = $ENV{TEST_NGINX_FAST_SHUTDOWN} ? SIGTERM : SIGQUIT;
    warn "sending signal $sig to $pid\n" if $Verbose;
    kill $sig, $pid;

    my $deadline = time + ($wait ? timeout() : 0) + 0.5;
    while (time < $deadline && is_running($pid)) {
        sleep 0.02;
    }
    return if !is_running($pid);

    warn "$name - timeout when waiting for the process $pid to exit; "
         . "killing it with SIGKILL\n";
    my $pgrp = getpgrp($pid);
    if (defined $pgrp && $pgrp == $pid) {
        kill SIGKILL, -$pid;    # nginx called setsid(): kill its workers too
    } else {
        kill SIGKILL, $pid;
    }
    $deadline = time + 5;
    while (time < $deadline && is_running($pid)) {
        sleep 0.02;
    }
}

sub stop_nginx ($) {
    my $name = shift;
    my $pid = get_pid_from_pidfile($name);
    if (defined $pid && is_running($pid)) {
        kill_process($pid, 1, $name);
    }
    # wait for the listening socket to go away too (workers may linger)
    my $deadline = time + timeout();
    while (time < $deadline && is_tcp_port_used($ServerPort)) {
        sleep 0.02;
    }
    unlink $PidFile if -f $PidFile;
}

sub cleanup_test ($) {
    my $block = shift;
    for my $hdl (@TestCleanupHandlers) {
        $hdl->($block);
    }
}

sub cleanup () {
    for my $hdl (@CleanupHandlers) {
        $hdl->();
    }
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# ---------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------

sub access_log_data () {
    sleep $TestNginxSleep * 3;
    open my $in, '<', $AccLogFile or return [];
    my @lines = <$in>;
    close $in;
    return \@lines;
}

# Lines added to the error log since the last call (all lines with
# check_accum_error_log()).  Lines captured from nginx's stderr during a
# failed start are appended once (see start_nginx).
sub error_log_data () {
    # for logging in the log phase, after nginx has closed the connection
    sleep $TestNginxSleep * 3;

    my @lines;
    if (open my $in, '<', $ErrLogFile) {
        if (!$CheckAccumErrLog && $ErrLogFilePos > 0) {
            seek $in, $ErrLogFilePos, 0;
        }
        @lines = <$in>;
        if (!$CheckAccumErrLog) {
            $ErrLogFilePos = tell($in);
        }
        close $in;
    }

    if (@ExtraErrLogLines) {
        # nginx writes its startup errors both to stderr ("nginx: [emerg]
        # msg") and to the error log ("... [emerg] pid#tid: msg"): only add
        # the stderr lines the error log does not have.
        my %have;
        for my $l (@lines) {
            if ($l =~ /\[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*?)\s*$/) {
                $have{"$1 $2"} = 1;
            }
        }
        for my $l (@ExtraErrLogLines) {
            if ($l =~ /^nginx: \[(\w+)\] (.*?)\s*$/ && $have{"$1 $2"}) {
                next;
            }
            push @lines, $l;
        }
        @ExtraErrLogLines = () unless $CheckAccumErrLog;
    }

    return \@lines;
}

sub check_prev_block_shutdown_error_log () {
    my $block = $PrevBlock;
    return if !defined $block;
    undef $PrevBlock;
    if (defined($block->shutdown_error_log)
        || defined($block->no_shutdown_error_log))
    {
        my $dry_run = $ENV{TEST_NGINX_NO_CLEAN} ? 1 : 0;
        $CheckShutdownErrorLog->($block, $dry_run) if $CheckShutdownErrorLog;
    }
}

# ---------------------------------------------------------------------
# Server root, user files, nginx.conf
# ---------------------------------------------------------------------

sub setup_server_root ($) {
    my $first_time = shift;

    if (-d $ServRoot) {
        # Only remove what we created, so that a mis-set TEST_NGINX_SERVROOT
        # cannot wipe out real data.
        remove_tree($ConfDir, $CacheDir, $HtmlDir, $LogDir,
                    glob("$ServRoot/*_cache"), glob("$ServRoot/*_temp"));
    }

    for my $dir ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        next if -d $dir;
        make_path($dir) or bail_out "Failed to do mkdir $dir: $!\n";
    }

    my $index_file = "$HtmlDir/index.html";
    open my $out, '>', $index_file
        or bail_out "Can't open $index_file for writing: $!\n";
    print $out '<html><head><title>It works!</title></head>'
               . '<body>It works!</body></html>';
    close $out;
}

sub run_customer_init_script ($) {
    my $block = shift;
    my $name = $block->name;
    if ($block->post_setup_server_root) {
        eval $block->post_setup_server_root;
        if ($@) {
            bail_out("$name - post_setup_server_root failed: $@");
        }
    }
}

# --- user_files
# >>> foo.html
# content of foo.html
# >>> sub/dir/bar.txt 201012240310.03
# content (the optional second field is a "touch -t" timestamp, GMT)
sub write_user_files ($$) {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;

    my $files = $block->user_files;
    return if !$files;

    if (!ref $files) {
        my @parsed;
        my ($fname, $body, $date);
        for my $line (split /^/m, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
                push @parsed, [$fname, $body, $date] if defined $fname;
                ($fname, $date, $body) = ($1, $2, undef);
            } else {
                $body .= $line;
            }
        }
        push @parsed, [$fname, $body, $date] if defined $fname;
        $files = \@parsed;

    } elsif (ref $files ne 'ARRAY') {
        bail_out "$name - wrong value type: ", ref $files,
                 ", only scalar or ARRAY are accepted";
    }

    for my $file (@$files) {
        my ($fname, $body, $date) = @$file;
        $body //= '';
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";

        if ($path =~ m{(.*)/} && !-d $1) {
            make_path($1) or bail_out "$name - Cannot create directory $1";
        }

        $body = expand_env_in_text $body, $name, $rand_ports;

        open my $out, '>', $path
            or bail_out "$name - Cannot open $path for writing: $!\n";
        binmode $out;
        print $out $body;
        close $out;

        if ($date) {
            chomp $date;
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $date, $path) == 0
                or bail_out "Failed to run touch -t '$date' $path\n";
        }
    }
}

sub expand_env_in_text ($$$) {
    my ($text, $name, $rand_ports) = @_;
    return undef if !defined $text;
    $rand_ports ||= {};

    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_[0-9]+$/) {
            if (!defined $rand_ports->{$var}) {
                my %used = ($ServerPort => 1, map { $_ => 1 } values %$rand_ports);
                my $port = gen_rand_port(1000, \%used);
                bail_out "$name - Cannot find an available listening port "
                         . "number for $var.\n" if !defined $port;
                $rand_ports->{$var} = $port;
            }
            $val = $rand_ports->{$var};
        } else {
            if (!defined $ENV{$var}) {
                bail_out "$name - No environment $var defined.\n";
            }
            $val = $ENV{$var};
        }
        $val;
    }ge;

    return $text;
}

sub write_config_file ($$$) {
    my ($block, $config, $rand_ports) = @_;

    my $name = $block->name;
    my $http_config = $block->http_config;
    my $main_config = $block->main_config;
    my $post_main_config = $block->post_main_config;
    my $err_log_file = $block->error_log_file;
    my $server_name = $block->server_name // $ServerName;

    $config //= '';
    $http_config = expand_env_in_text($http_config, $name, $rand_ports) // '';
    if ($FilterHttpConfig) {
        $http_config = $FilterHttpConfig->($http_config);
    }
    $main_config = expand_env_in_text($main_config, $name, $rand_ports) // '';
    $post_main_config = expand_env_in_text($post_main_config, $name,
                                           $rand_ports) // '';
    $err_log_file = $err_log_file
        ? expand_env_in_text($err_log_file, $name, $rand_ports)
        : $ErrLogFile;
    chomp $err_log_file;

    my $load_modules = '';
    if ($LoadModules) {
        $load_modules = join '', map { "load_module $_;\n" }
                                 grep { $_ ne '' } split /\s+/, $LoadModules;
    }

    (my $quoted_server_name = $server_name) =~ s/\\/\\\\/g;
    $quoted_server_name =~ s/'/\\'/g;

    my $nginx_V = nginx_V();
    my @temp_paths;
    for my $mod (qw( client_body proxy fastcgi scgi uwsgi )) {
        next if $mod ne 'client_body' && $mod ne 'proxy'
                && $nginx_V =~ /--without-http_${mod}_module/;
        next if $http_config =~ /\b${mod}_temp_path\b/;
        push @temp_paths, "${mod}_temp_path $ServRoot/${mod}_temp;";
    }
    my $temp_paths = join ' ', @temp_paths;

    my $env_lines = '';
    for my $v (qw( MOCKEAGAIN_VERBOSE MOCKEAGAIN
                   MOCKEAGAIN_WRITE_TIMEOUT_PATTERN LD_PRELOAD
                   LD_LIBRARY_PATH DYLD_INSERT_LIBRARIES
                   DYLD_FORCE_FLAT_NAMESPACE ))
    {
        $env_lines .= "env $v;\n";
    }
    for my $v (@EnvToNginx) {
        my $q = $v =~ /\s/ ? "'$v'" : $v;
        $env_lines .= "env $q;\n";
    }

    my $root_location = '';
    if (!$NoRootLocation) {
        $root_location = <<_EOC_;
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_
    }

    my $user = '';
    if (defined $WorkerUser) {
        $user = "user $WorkerUser;\n";
    } elsif ($> == 0) {
        # being root: workers would otherwise run as "nobody"
        $user = "user root;\n";
    }

    open my $out, '>', $ConfFile
        or bail_out "Can't open $ConfFile for writing: $!\n";
    print $out <<_EOC_;
${load_modules}worker_processes  $Workers;
daemon $DaemonEnabled;
master_process $MasterProcessEnabled;
error_log $err_log_file $LogLevel;
pid       $PidFile;
$env_lines
$main_config

http {
    access_log $AccLogFile; $temp_paths

    default_type text/plain;
    keepalive_timeout  68000ms;

$http_config

    server {
        listen          $ServerPort;
        server_name     '$quoted_server_name';

        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_location    }
}

$post_main_config

events {
    accept_mutex off;

    worker_connections  $WorkerConnections;
}

env ASAN_OPTIONS;
$user
_EOC_
    close $out;
}

# ---------------------------------------------------------------------
# Starting nginx
# ---------------------------------------------------------------------

sub _sh_quote ($) {
    my $s = shift;
    return $s if $s =~ m{^[-\w./:=+,]+$};
    $s =~ s/'/'\\''/g;
    return "'$s'";
}

sub _slurp ($) {
    my $f = shift;
    open my $in, '<', $f or return '';
    local $/;
    my $s = <$in>;
    close $in;
    return $s // '';
}

# Runs nginx once; returns ($status, $stderr_text).  With "daemon on" the
# command returns once the configuration has been loaded and the listening
# sockets are open (or nginx has failed).
sub run_nginx_cmd ($) {
    my $block = shift;

    my ($fh, $errfile) = tempfile('ngx-wsgi-nginx-stderr-XXXXXX',
                                  TMPDIR => 1, UNLINK => 1);
    close $fh;

    my $cmd = "$NginxBinary";
    if (defined $NginxVersion && $NginxVersion >= 1.019005) {
        # -e: early (pre-config) errors go to our error log too
        $cmd .= " -e " . _sh_quote($ErrLogFile);
    }
    $cmd .= " -p " . _sh_quote("$ServRoot/") . " -c " . _sh_quote($ConfFile)
            . " > /dev/null 2> " . _sh_quote($errfile);

    warn "running: $cmd\n" if $Verbose;

    local $SIG{CHLD} = 'DEFAULT';
    system($cmd);
    my $status = $?;

    my $stderr = _slurp($errfile);
    unlink $errfile;

    if (!defined $block->suppress_stderr && $stderr ne '' && $Verbose) {
        warn $stderr;
    }

    return ($status, $stderr, $cmd);
}

# After a successful start: wait for the pid file, the process and the
# listening socket (up to timeout() + a few seconds).
sub wait_for_nginx ($) {
    my $name = shift;
    my $deadline = time + timeout() + 2;
    my $pid;
    while (time < $deadline) {
        $pid = get_pid_from_pidfile($name);
        last if defined $pid && is_running($pid)
                && is_tcp_port_used($ServerPort);
        sleep 0.01;
    }
    if (!defined $pid || !is_running($pid)) {
        return "nginx did not write a live pid into $PidFile";
    }
    if (!is_tcp_port_used($ServerPort)) {
        return "nginx (pid $pid) is not listening on port $ServerPort";
    }
    return undef;
}

# ---------------------------------------------------------------------
# The main loop
# ---------------------------------------------------------------------

sub run_tests () {
    $NginxVersion = get_nginx_version();

    if (!defined $ENV{TEST_NGINX_SERVER_PORT}) {
        $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;
    }

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;

    for my $block (@blocks) {
        for my $hdl (@BlockPreprocessors) {
            $hdl->($block);
        }
        $block->set_value("name", $0 . " " . $block->name);
        run_test($block);
        cleanup_test($block);
        $PrevBlock = $block;
    }

    cleanup();
}

sub _skip_spec ($) {
    my $block = shift;
    my $name = $block->name;

    my ($tests_to_skip, $should_skip, $skip_reason);

    if (defined(my $spec = $block->skip_eval)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            $tests_to_skip = $1;
            $skip_reason = "skip_eval";
            my $code = $2;
            $should_skip = eval $code;
            if ($@) {
                bail_out("$name - skip_eval - failed to eval the Perl code "
                         . "\"$code\": $@");
            }
        } else {
            bail_out("$name - Invalid --- skip_eval spec: $spec");
        }
    }

    if (defined(my $spec = $block->skip_nginx)) {
        if ($spec =~ m{^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)
                       (?:\s*:\s*(.*))?\s*$}x)
        {
            $tests_to_skip = $1;
            my ($op, $ver) = ($2, get_canon_version($3, $4, $5));
            $skip_reason = $6 || "nginx version $op $3.$4.$5";
            $should_skip = 1 if eval "$NginxVersion $op $ver";
        } else {
            bail_out("$name - Invalid --- skip_nginx spec: $spec");
        }
    }

    my ($should_todo, $todo_reason);
    if (defined(my $todo = $block->todo)) {
        if ($todo =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            $should_todo = 1;
            $tests_to_skip = $1;
            $todo_reason = $2;
        } else {
            bail_out("$name - Invalid --- todo spec: $todo");
        }
    }

    return ($tests_to_skip, $should_skip, $skip_reason || 'various reasons',
            $should_todo, $todo_reason || 'various reasons');
}

sub run_test ($) {
    my $block = shift;
    return if defined $block->SKIP;

    my $name = $block->name;

    my $first_time = $FirstTime;
    undef $FirstTime;

    my $rand_ports = {};
    $RandPorts = $rand_ports;

    my $config = $block->config;
    $config = expand_env_in_text $config, $name, $rand_ports;

    local $LogLevel = $LogLevel;
    if ($block->log_level) {
        ($LogLevel = $block->log_level) =~ s/^\s+|\s+$//g;
    }

    my $must_die = $block->must_die;
    if (defined $must_die) {
        $must_die =~ s/^\s+|\s+$//g;
    }

    my $should_restart = 1;
    if (!defined $config) {
        if (!$NoNginxManager && !defined $PrevConfig) {
            bail_out("$name - No '--- config' section specified and could "
                     . "not get previous one.");
        }
        # keep using the nginx started for the previous block
        $should_restart = 0;
    } elsif ($NoNginxManager) {
        Test::More::diag("NO_NGINX_MANAGER activated: config for $name ignored");
        $should_restart = 0;
    } elsif (defined $PrevConfig && $config eq $PrevConfig
             && !$ForceRestartOnTest)
    {
        $should_restart = 0;
    }

    my ($tests_to_skip, $should_skip, $skip_reason, $should_todo,
        $todo_reason) = _skip_spec($block);

    if (!$NoNginxManager && !$should_skip && $should_restart) {
        $PrevConfig = $config;

        # stop the nginx of the previous block (and of a previous run)
        stop_nginx($name);

        check_prev_block_shutdown_error_log();

        setup_server_root($first_time);
        run_customer_init_script($block);
        write_user_files($block, $rand_ports);
        write_config_file($block, $config, $rand_ports);

        if (!can_run($NginxBinary) && $NginxBinary !~ /\s/) {
            bail_out("$name - Cannot find the nginx executable "
                     . "\"$NginxBinary\" (set TEST_NGINX_BINARY)");
        }

        $ErrLogFilePos = 0;
        @ExtraErrLogLines = ();

        if (defined $must_die) {
            for my $i (0 .. $RepeatEach - 1) {
                my ($status, $stderr, $cmd) = run_nginx_cmd($block);
                @ExtraErrLogLines = map { "$_\n" } split /\n/, $stderr;

                if ($status == -1) {
                    Test::More::fail("$name - failed to execute the nginx "
                                     . "command line: $cmd");
                } elsif ($status & 128) {
                    Test::More::fail("$name - nginx core dumped");
                } elsif (looks_like_number($must_die)) {
                    Test::More::is($status >> 8, $must_die,
                                   "$name - die with the expected exit code");
                } else {
                    Test::More::isnt($status, 0, "$name - die as expected");
                }

                $CheckErrorLog->($block, undef, undef, $i, 0);
                @ExtraErrLogLines = ();

                if ($status == 0) {
                    warn "WARNING: $name - nginx must die but it does not; "
                         . "killing it (req $i)\n";
                    wait_for_nginx($name);
                    stop_nginx($name);
                }
            }
            return;
        }

        my ($status, $stderr, $cmd);
        my $waited = 0;
        while (1) {
            ($status, $stderr, $cmd) = run_nginx_cmd($block);
            last if $status == 0;

            my $log = _slurp($ErrLogFile);
            # another nginx (e.g. of a previous run) may still hold the port
            if (($stderr . $log) =~ /Address already in use/ && $waited < 10) {
                sleep 0.2;
                $waited += 0.2;
                next;
            }
            last;
        }

        if ($status != 0) {
            my $log = _slurp($ErrLogFile);
            my $tb = Test::More->builder;
            $tb->no_ending(1);
            $stderr =~ s/\s+$//;
            $log =~ s/\s+$//;
            Test::More::fail("$name - Cannot start nginx using command "
                             . "\"$cmd\" (status code $status)");
            Test::More::diag("nginx stderr:\n$stderr") if $stderr ne '';
            if ($log ne '') {
                my @l = split /\n/, $log;
                splice @l, 0, @l - 20 if @l > 20;
                Test::More::diag("tail of $ErrLogFile:\n" . join "\n", @l);
            }
            undef $PrevConfig;
            return;
        }

        if (my $err = wait_for_nginx($name)) {
            my $tb = Test::More->builder;
            $tb->no_ending(1);
            Test::More::fail("$name - $err");
            Test::More::diag(_slurp($ErrLogFile));
            undef $PrevConfig;
            return;
        }

        sleep $TestNginxSleep;
    }

    if ($block->init) {
        eval $block->init;
        if ($@) {
            bail_out("$name - init failed: $@");
        }
    }

    $ErrLogFilePos = 0;
    for my $i (1 .. $RepeatEach) {
        if ($i > 1) {
            write_user_files($block, $rand_ports);
        }

        if ($should_skip && defined $tests_to_skip) {
            SKIP: {
                Test::More::skip("$name - $skip_reason", $tests_to_skip);
            }

        } elsif ($should_todo) {
            TODO: {
                Test::More::todo_skip("$name - $todo_reason", $tests_to_skip);
            }

        } elsif (!$should_skip) {
            $RunTestHelper->($block, undef, $i - 1);
        }
    }

    if (my $total_errlog = $ENV{TEST_NGINX_ERROR_LOG}) {
        if (-s $ErrLogFile && open my $out, '>>', $total_errlog) {
            print $out "\n=== $0 $name\n", _slurp($ErrLogFile);
            close $out;
        }
    }
}

END {
    return if $InSubprocess;
    local $?;   # do not disturb Test::Builder's exit code

    cleanup();

    if (!$ENV{TEST_NGINX_NO_CLEAN} && defined $PidFile && -f $PidFile) {
        my $pid = get_pid_from_pidfile('END');
        if (defined $pid && is_running($pid)) {
            kill_process($pid, 1, "END");
        }
        unlink $PidFile;
    }

    check_prev_block_shutdown_error_log();

    if ($Randomize && defined $ServRoot && $ServRoot =~ m{/t/servroot_\d+$}
        && -d $ServRoot)
    {
        remove_tree($ServRoot);
    }
}

1;
