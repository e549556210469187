# nginx ./configure hook for ngx-wsgi, part two: auto/make sources this
# (POSIX sh) after writing objs/Makefile, and this appends the rule that
# builds the Rust static library `config` named as the module's library.
# The variables come from `config`.

# make cannot see the crate's sources and dependencies, so cargo is run
# every time and does its own change tracking: when nothing changed it
# leaves the library alone and the module is not relinked.  The force
# target is an ordinary target with an empty recipe and no file behind
# it (rather than .PHONY, which not every make knows).
#
# --crate-type staticlib: nginx links the module itself, around the
# ngx_modules table it generates; that is also why the features are
# `module` alone, not `export-modules` (a second ngx_modules) nor the
# default `vendored` (an nginx of the crate's own).

cat << END                                                    >> $NGX_MAKEFILE

.NGX_WSGI_CARGO: ;

$ngx_wsgi_lib:	.NGX_WSGI_CARGO
	NGINX_BUILD_DIR="$ngx_wsgi_objs" \\
	NGINX_SOURCE_DIR="$ngx_wsgi_src" \\
	PYO3_PYTHON="$ngx_wsgi_python" $ngx_wsgi_rustc_env\\
	"$ngx_wsgi_cargo" rustc \\
		--manifest-path "$ngx_wsgi_dir/Cargo.toml" \\
		--release --lib --crate-type staticlib \\
		--no-default-features --features module \\
		--target-dir "$ngx_wsgi_target_dir"
END

# A dynamic module's link depends on its C objects only, and we have none:
# make objs/ngx_http_wsgi_module.so wait for (and relink after) cargo.
# (For --add-module, `config` put the library into LINK_DEPS instead.)
if [ "$ngx_wsgi_link" = DYNAMIC ]; then
    cat << END                                                >> $NGX_MAKEFILE

$NGX_OBJS${ngx_dirsep}ngx_http_wsgi_module$ngx_modext:	$ngx_wsgi_lib
END
fi
