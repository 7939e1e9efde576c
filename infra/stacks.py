"""Finding and loading stack files: one small Python file a deployment, defining `stack`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from pydantic import ValidationError

from .errors import UserError
from .specs import AnyStack, StackSpec, TrainingStackSpec, one_line

_PKG = Path(__file__).resolve().parent
EXAMPLES_DIR = _PKG.parent / "stacks"


def load_stack_file(path: Path) -> AnyStack:
    """Import `path` and return its module-level `stack`; UserError names file, field and fix."""
    shown = _shown(path)
    if not path.is_file():
        raise UserError(f"{shown}: no such stack file; list stacks with `gpuform stacks`")
    name = f"gpuform_stack_{path.stem.replace('-', '_')}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise UserError(f"{shown}: not a Python file; stack files end in .py")
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except ValidationError as err:
        raise UserError(f"{shown}: {one_line(err)}") from None
    except UserError as err:
        raise err.within(shown) from None
    except SyntaxError as err:
        raise UserError(f"{shown}:{err.lineno}: {err.msg}; fix the Python syntax") from None
    except ImportError as err:
        where = _line_in(path, err)
        raise UserError(f"{where}: {err}; import specs from infra.specs") from None
    except SystemExit as err:
        raise UserError(
            f"{_line_in(path, err)}: the stack file called exit({err.code!r}); "
            "define `stack` instead of exiting"
        ) from None
    except Exception as err:
        # Whatever else the file raises (a NameError, an unset environment variable, a key
        # file that is not there) is the user's code failing: where, and what, on one line.
        raise UserError(
            f"{_line_in(path, err)}: {type(err).__name__}: {_flat(err)}; fix the stack file"
        ) from None
    finally:
        sys.modules.pop(name, None)
    stack = getattr(module, "stack", None)
    if not isinstance(stack, StackSpec | TrainingStackSpec):
        raise UserError(
            f"{shown}: defines no `stack = StackSpec(...)` or `stack = TrainingStackSpec(...)`; "
            "add one"
        )
    return stack


def _line_in(path: Path, err: BaseException) -> str:
    """`file:line` of the deepest traceback frame in the stack file itself."""
    line = None
    tb = err.__traceback__
    target = str(path.resolve())
    while tb is not None:
        if str(Path(tb.tb_frame.f_code.co_filename).resolve()) == target:
            line = tb.tb_lineno
        tb = tb.tb_next
    return f"{_shown(path)}:{line}" if line is not None else _shown(path)


def _flat(err: BaseException) -> str:
    return " ".join(str(err).split()) or "(no message)"


def discover(stacks_dir: Path) -> dict[str, Path]:
    """Stack files in `stacks_dir`, by file stem, sorted."""
    return {p.stem: p for p in sorted(stacks_dir.glob("*.py")) if not p.name.startswith("_")}


def load_dir(stacks_dir: Path) -> dict[str, AnyStack]:
    """Every stack in `stacks_dir`, by stack name; no stacks, or a name used twice, is an error."""
    if not stacks_dir.is_dir():
        raise UserError(
            f"{_shown(stacks_dir)}: no such folder; run gpuform where your stacks/ folder is, "
            "or pass --stacks-dir"
        )
    files = discover(stacks_dir)
    if not files:
        raise UserError(
            f"{_shown(stacks_dir)}: no stack files; add a .py file that defines "
            "`stack = StackSpec(...)` (see the examples in gpuform's stacks/)"
        )
    loaded: dict[str, AnyStack] = {}
    for path in files.values():
        spec = load_stack_file(path)
        if spec.name in loaded:
            raise UserError(
                f"{_shown(path)}: deployment.name = {spec.name!r} is used by another stack; "
                "give each stack its own name"
            )
        loaded[spec.name] = spec
    return loaded


def load_examples() -> dict[str, AnyStack]:
    """The example stacks shipped in the repository's stacks/ folder."""
    return load_dir(EXAMPLES_DIR)


def select(names: list[str], stacks_dir: Path) -> dict[str, AnyStack]:
    """Stacks by name (deployment name or file stem) or path; all when `names` is empty."""
    if not names:
        return load_dir(stacks_dir)
    everything: dict[str, AnyStack] | None = None
    chosen: dict[str, AnyStack] = {}
    for name in names:
        if name.endswith(".py"):
            spec = load_stack_file(Path(name))
        else:
            files = discover(stacks_dir)
            if name in files:
                spec = load_stack_file(files[name])
            else:
                everything = everything if everything is not None else load_dir(stacks_dir)
                if name not in everything:
                    known = ", ".join(sorted(everything)) or "none"
                    raise UserError(
                        f"stack {name!r} not found in {_shown(stacks_dir)}; known: {known}"
                    )
                spec = everything[name]
        if spec.name in chosen and chosen[spec.name] != spec:
            raise UserError(
                f"{name}: deployment.name = {spec.name!r} is used by another stack on the "
                "command line; give each stack its own name"
            )
        chosen[spec.name] = spec
    return chosen


def stack_paths(names: list[str], stacks_dir: Path) -> list[Path]:
    """The stacks folder and the stack files `names` name: synth output never goes over or
    into either."""
    return [stacks_dir, *(Path(n) for n in names if n.endswith(".py"))]


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
