"""The pre-commit hook pthsafe-scan-system (.pre-commit-hooks.yaml) in a real commit.

usage: precommit_check.py PTHSAFE_CLI [REPO_ROOT]

Copies the repository's .pre-commit-hooks.yaml into a temporary hook repository (so the file as it
is on disk is tested, committed or not, and no clone of the source tree is needed), makes a second
temporary repository that uses the hook through a .pre-commit-config.yaml, installs pre-commit's git
hook there and commits with the given CLI's directory first on PATH:
  - a safe checkpoint under two matched extensions (.pth, .BIN) plus a .txt file of junk: the
    commit succeeds, the hook names both checkpoints safe and never names the .txt file (which scan
    would call malformed if it were passed);
  - a hostile checkpoint (a pickle calling subprocess.Popen): the commit fails, HEAD stays where it
    was, and the output names the file and says unsafe.
Runs under an interpreter that has pre-commit installed (module pre_commit).
"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile


def fail(msg, out=""):
    sys.stderr.write("precommit_check: FAIL: %s\n%s\n" % (msg, out))
    sys.exit(1)


def run(cmd, cwd, env, check=True):
    r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        fail("%s exited %d" % (" ".join(map(str, cmd)), r.returncode), r.stdout)
    return r


def git_env(home, cli_dir, pre_commit_home):
    env = dict(os.environ)
    # No user or system git configuration (commit signing, core.hooksPath, templates) reaches the
    # temporary repositories; pre-commit's clones and environments stay in the temporary directory.
    env.update({
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "PRE_COMMIT_HOME": str(pre_commit_home),
        "PATH": str(cli_dir) + os.pathsep + env.get("PATH", ""),
    })
    for k in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "PRE_COMMIT", "SKIP"):
        env.pop(k, None)
    return env


def main():
    if len(sys.argv) not in (2, 3):
        fail(__doc__)
    cli = pathlib.Path(sys.argv[1]).resolve()
    root = pathlib.Path(sys.argv[2] if len(sys.argv) == 3 else pathlib.Path(__file__).parents[2]).resolve()
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        fail("%s has no pre-commit (scripts/setup-torch-venv.sh installs it in the venv)" % sys.executable)
    if not cli.is_file():
        fail("no CLI at %s" % cli)
    if shutil.which("git") is None:
        fail("git is not on PATH")
    # The hook runs `pthsafe`: the CLI must be reachable under that name in its directory.
    if cli.name != "pthsafe":
        fail("the CLI is named %s, the hook runs `pthsafe`" % cli.name)
    safe = root / "tests/fixtures/state_dict.pth"
    hostile = root / "tests/hostile/files/subprocess_popen.pth"
    hooks = root / ".pre-commit-hooks.yaml"
    for f in (safe, hostile, hooks):
        if not f.is_file():
            fail("missing %s" % f)

    with tempfile.TemporaryDirectory(prefix="pthsafe-precommit-") as tmp:
        tmp = pathlib.Path(tmp)
        (tmp / "home").mkdir()
        env = git_env(tmp / "home", cli.parent, tmp / "pre-commit-home")
        found = shutil.which("pthsafe", path=env["PATH"])
        if found is None or pathlib.Path(found).resolve() != cli:
            fail("`pthsafe` on the hook's PATH is %s, not %s" % (found, cli))

        # The hook repository: only the hook definitions (a language: system hook needs nothing else).
        hook_repo = tmp / "hooks"
        hook_repo.mkdir()
        shutil.copyfile(hooks, hook_repo / ".pre-commit-hooks.yaml")
        run(["git", "init", "-q"], hook_repo, env)
        run(["git", "add", ".pre-commit-hooks.yaml"], hook_repo, env)
        run(["git", "commit", "-q", "--no-verify", "-m", "hooks"], hook_repo, env)
        rev = run(["git", "rev-parse", "HEAD"], hook_repo, env).stdout.strip()

        # The project that uses the hook, as docs/python.md shows (plus verbose, so that the hook's
        # output is shown on success too).
        work = tmp / "work"
        work.mkdir()
        run(["git", "init", "-q"], work, env)
        (work / ".pre-commit-config.yaml").write_text(
            "repos:\n"
            "  - repo: %s\n"
            "    rev: %s\n"
            "    hooks:\n"
            "      - id: pthsafe-scan-system\n"
            "        verbose: true\n" % (hook_repo.as_posix(), rev))
        run(["git", "add", ".pre-commit-config.yaml"], work, env)
        run(["git", "commit", "-q", "--no-verify", "-m", "config"], work, env)
        r = run([sys.executable, "-m", "pre_commit", "install"], work, env)
        if not (work / ".git/hooks/pre-commit").is_file():
            fail("pre-commit install wrote no git hook", r.stdout)

        # 1. Safe checkpoints and a text file: the commit goes through.
        (work / "models").mkdir()
        shutil.copyfile(safe, work / "models/good.pth")
        shutil.copyfile(safe, work / "models/weights.BIN")
        shutil.copyfile(safe, work / "-dash.pt")  # a name scan must not take for an option
        (work / "notes.txt").write_bytes(b"not a checkpoint \x00\x01\x02\n")
        run(["git", "add", "--", "models/good.pth", "models/weights.BIN", "-dash.pt", "notes.txt"], work, env)
        r = run(["git", "commit", "-q", "-m", "safe checkpoints"], work, env, check=False)
        print(r.stdout)
        if r.returncode != 0:
            fail("the commit of safe checkpoints failed", r.stdout)
        for name in ("models/good.pth: safe", "models/weights.BIN: safe", "-dash.pt: safe", "scanned 3: 3 safe"):
            if name not in r.stdout:
                fail("the hook's output lacks %r" % name, r.stdout)
        if "notes.txt" in r.stdout:
            fail("notes.txt was passed to the hook", r.stdout)
        head = run(["git", "rev-parse", "HEAD"], work, env).stdout.strip()
        committed = run(["git", "show", "--name-only", "--format=", "HEAD"], work, env).stdout.split()
        if sorted(committed) != ["-dash.pt", "models/good.pth", "models/weights.BIN", "notes.txt"]:
            fail("the safe commit holds %s" % committed)

        # 2. A hostile checkpoint: the commit is refused and the file named.
        shutil.copyfile(hostile, work / "models/evil.pth")
        run(["git", "add", "models/evil.pth"], work, env)
        r = run(["git", "commit", "-q", "-m", "hostile checkpoint"], work, env, check=False)
        print(r.stdout)
        if r.returncode == 0:
            fail("the commit of a hostile checkpoint succeeded", r.stdout)
        if "models/evil.pth: unsafe" not in r.stdout:
            fail("the hook's output does not name models/evil.pth unsafe", r.stdout)
        if "subprocess.Popen" not in r.stdout:
            fail("the hook's output does not name the refused global", r.stdout)
        if run(["git", "rev-parse", "HEAD"], work, env).stdout.strip() != head:
            fail("HEAD moved although the hook failed")
    print("precommit_check: OK")


if __name__ == "__main__":
    main()
