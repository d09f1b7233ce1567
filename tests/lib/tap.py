"""A tiny TAP producer for the Python end-to-end tests.

Each test file registers functions with @test; run() calls them in order,
prints "ok N - name" or "not ok N - name" with the failure, then the plan.
"""
import sys
import traceback

_tests = []


def test(fn):
    _tests.append(fn)
    return fn


def run(setup=None, teardown=None):
    ctx = None
    failed = 0
    try:
        if setup is not None:
            ctx = setup()
    except Exception:
        print("Bail out! setup failed")
        traceback.print_exc(file=sys.stdout)
        sys.stdout.flush()
        if teardown is not None and ctx is not None:
            teardown(ctx)
        sys.exit(1)
    try:
        for i, fn in enumerate(_tests, 1):
            name = fn.__name__
            try:
                if ctx is None:
                    fn()
                else:
                    fn(ctx)
                print(f"ok {i} - {name}")
            except Exception:
                failed += 1
                print(f"not ok {i} - {name}")
                for line in traceback.format_exc().splitlines():
                    print("# " + line)
            sys.stdout.flush()
        print(f"1..{len(_tests)}")
    finally:
        if teardown is not None and ctx is not None:
            teardown(ctx)
    sys.exit(1 if failed else 0)
