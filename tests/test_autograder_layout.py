"""The grader's folders follow its trust boundary, and the imports keep them honest.

``autograder/__init__.py`` lists the folders from the inside of the sandbox
out; a module may import only its own folder and the ones before it.  What
runs inside the sandbox imports the standard library and numpy, nothing else.
"""
import ast
import sys
from pathlib import Path

import pytest

from test_exercises import code_lines_of

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "autograder"
# Inside out: each layer may import the layers before it (and itself); "" is the top folder.
LAYERS = ("in_sandbox", "isolation", "checks", "nbgrader_io", "similarity", "")
IN_SANDBOX_THIRD_PARTY = {"numpy"}


def layer_of(module):
    """``autograder.checks.runner`` -> ``checks``; ``autograder.one_submission`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) >= 2 and parts[1] in LAYERS else ""


def module_name(path):
    relative = path.relative_to(REPO).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def imported_modules(path):
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return names


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_sits_in_a_declared_folder():
    folders = {path.parent.relative_to(PACKAGE).as_posix() for path in MODULES}
    assert folders == {"."} | set(LAYERS[:-1])


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_a_module_imports_only_its_own_folder_and_the_ones_inside_it(path):
    own = LAYERS.index(layer_of(module_name(path)))
    outward = sorted({name for name in imported_modules(path)
                      if (name == "autograder" or name.startswith("autograder."))
                      and LAYERS.index(layer_of(name)) > own})
    assert outward == [], f"{path.relative_to(REPO)} reaches outward: {outward}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "in_sandbox").glob("*.py")), ids=lambda p: p.name)
def test_what_runs_in_the_sandbox_imports_the_standard_library_and_numpy_only(path):
    # Inside the sandbox the files sit side by side: `import wire` there is `from . import wire` here.
    siblings = {p.stem for p in path.parent.glob("*.py")}
    tops = {name.split(".")[0] for name in imported_modules(path)
            if name and not name.startswith("autograder.in_sandbox")}
    foreign = tops - set(sys.stdlib_module_names) - IN_SANDBOX_THIRD_PARTY - siblings
    assert foreign == set(), f"{path.name} imports {sorted(foreign)}"


def test_the_deployed_grader_holds_no_answer_of_the_solutions():
    import corpus  # test data: a second reference solution and the hostile cases, kept under tests/
    answers = corpus.solution_answers(REPO / "solutions" / "numpy_cnn")
    answers.update(corpus.REFERENCE)
    answer_lines = {line.strip() for source in answers.values() for line in source.splitlines()
                    if len(line.strip()) >= 30}
    assert len(answer_lines) > 50
    for path in MODULES:
        leaked = answer_lines & code_lines_of(path)
        assert leaked == set(), f"{path.relative_to(REPO)} holds answer code: {sorted(leaked)[:3]}"


def module_graph():
    """``{module: {autograder modules it imports}}``, counting imports inside functions too."""
    names = {module_name(path) for path in MODULES}
    graph = {}
    for path in MODULES:
        found = set()
        for name in imported_modules(path):
            parts = name.split(".")
            for end in range(len(parts), 0, -1):      # "autograder.runners.LocalRunner" -> autograder.runners
                if ".".join(parts[:end]) in names:
                    found.add(".".join(parts[:end]))
                    break
        graph[module_name(path)] = found - {module_name(path)}
    return graph


def test_no_two_modules_of_the_grader_import_each_other_even_indirectly():
    # A cycle (whole_class and cluster once imported each other, inside functions) makes the import
    # order matter and the runners impossible to move apart; packages' own __init__ are left out.
    graph = {module: {dependency for dependency in dependencies if not PACKAGE.joinpath(
        *dependency.split(".")[1:], "__init__.py").is_file()} for module, dependencies in module_graph().items()}
    cycles, done = [], set()

    def visit(module, path):
        if module in path:
            cycles.append(path[path.index(module):] + [module])
            return
        if module in done:
            return
        for dependency in sorted(graph.get(module, ())):
            visit(dependency, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert cycles == [], " ; ".join(" -> ".join(cycle) for cycle in cycles)
