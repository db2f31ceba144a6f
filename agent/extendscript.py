"""ExtendScript for `script` assets: the generated wrapper, and the runners that execute it.

The agent never splices a value into script text. It writes one wrapper per lease whose only
variable part is a single JSON literal holding every path, layer name, keyword and parameter;
`json.dumps(..., ensure_ascii=True)` escapes quotes, backslashes, newlines, U+2028 and every
non-ASCII character, so no value can end the literal or inject code. The wrapper:

1. suppresses dialogs, and opens the project when the runner needs that;
2. replaces footage it is given (import, then `layer.replaceSource`);
3. for each user script, sets `$.global[keyword]` to the keyword object (the parameters, plus
   `get(key)`) and evaluates the script with `$.evalFile`;
4. saves the project when the runner needs that, and writes a result file, JSON
   `{"ok": true|false, "error": "..."}`, which the agent reads.

Runners (`--script-runner`):
- `afterfx`: After Effects itself runs the wrapper, `AfterFX.exe -r wrapper.jsx` on Windows or
  `osascript -e 'tell application "Adobe After Effects 2026" to DoScriptFile "..."'` on macOS,
  before the render. The wrapper opens the project, saves it, and the agent renders the saved
  project.
- `patched-aerender`: aerender runs the wrapper itself through `-r wrapper.jsx`, which only
  an aerender whose commandLineRenderer.jsx was patched (as nexrender does) understands. The
  project is already open then; the wrapper neither opens nor saves it.

The aerender simulator runs `-r` scripts, and `python -m agent.simulator.afterfx` stands in for
AfterFX, both with Node.js (agent/simulator/script_host.py), so either runner works with
`--simulate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import LeaseFailure

logger = logging.getLogger(__name__)

RUNNERS = ("afterfx", "patched-aerender")
# The After Effects program: a path or macOS application name, or a whole command to which
# `-r wrapper.jsx` is appended (the simulator's stand-in).
AfterFxProgram = str | tuple[str, ...]
DEFAULT_SCRIPT_TIMEOUT = 600.0
WRAPPER_NAME = "aefarm-scripts.jsx"
RESULT_NAME = "aefarm-scripts.result.json"


@dataclass(frozen=True)
class ScriptRun:
    """One user script and the keyword object it sees."""

    path: Path
    keyword: str = "NX"
    parameters: dict[str, Any] | None = None


@dataclass(frozen=True)
class FootageReplacement:
    path: str
    layer_name: str = ""
    layer_index: int = 0
    # Empty means every composition that has the layer; "outer->inner" names the inner one.
    composition: str = ""
    sequence: bool = False


def script_runs_from_json(path: Path, keyword: str, parameters_json: str) -> ScriptRun:
    try:
        parameters = json.loads(parameters_json) if parameters_json else {}
    except ValueError as error:
        raise LeaseFailure(
            "script_failed", f"the parameters of script {path.name} are not JSON: {error}"
        ) from error
    if not isinstance(parameters, dict):
        raise LeaseFailure(
            "script_failed", f"the parameters of script {path.name} must be a JSON object"
        )
    return ScriptRun(path, keyword or "NX", parameters)


def write_script_code(folder: Path, name: str, code: str) -> Path:
    """Write the ExtendScript source of a function asset to folder/name, as UTF-8."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(code, encoding="utf-8")
    return path


_BODY = r"""
(function (settings) {
  function quote(text) {
    text = String(text);
    var out = '"';
    for (var i = 0; i < text.length; i++) {
      var c = text.charAt(i);
      var code = text.charCodeAt(i);
      if (c === '"' || c === '\\') {
        out += '\\' + c;
      } else if (code < 32 || code > 126) {
        var hex = code.toString(16);
        while (hex.length < 4) { hex = '0' + hex; }
        out += '\\u' + hex;
      } else {
        out += c;
      }
    }
    return out + '"';
  }
  function report(ok, message) {
    var file = new File(settings.resultFile);
    file.encoding = 'UTF-8';
    if (file.open('w')) {
      file.write('{"ok": ' + (ok ? 'true' : 'false') + ', "error": ' + quote(message) + '}');
      file.close();
    }
  }
  function compositions(name) {
    var wanted = name.split('->');
    wanted = wanted[wanted.length - 1];
    var found = [];
    for (var i = 1; i <= app.project.numItems; i++) {
      var item = app.project.item(i);
      if (item instanceof CompItem && (wanted === '' || item.name === wanted)) {
        found.push(item);
      }
    }
    return found;
  }
  function replaceFootage(entry) {
    var options = new ImportOptions(new File(entry.path));
    if (entry.sequence) { options.sequence = true; }
    var source = app.project.importFile(options);
    var comps = compositions(entry.composition);
    var replaced = 0;
    for (var i = 0; i < comps.length; i++) {
      var layer = null;
      if (entry.layerName !== '') {
        layer = comps[i].layers.byName(entry.layerName);
      } else if (entry.layerIndex >= 1 && entry.layerIndex <= comps[i].numLayers) {
        layer = comps[i].layer(entry.layerIndex);
      }
      if (layer) {
        layer.replaceSource(source, false);
        replaced += 1;
      }
    }
    if (replaced === 0) {
      throw new Error('no layer ' + quote(entry.layerName || String(entry.layerIndex)) +
        ' in composition ' + quote(entry.composition || '(any)'));
    }
  }
  function keywordObject(parameters) {
    var object = {};
    for (var key in parameters) {
      if (parameters.hasOwnProperty(key)) { object[key] = parameters[key]; }
    }
    object.get = function (key) { return parameters[key]; };
    return object;
  }
  app.beginSuppressDialogs();
  try {
    if (settings.openProject) { app.open(new File(settings.project)); }
    for (var f = 0; f < settings.footage.length; f++) { replaceFootage(settings.footage[f]); }
    for (var s = 0; s < settings.scripts.length; s++) {
      var run = settings.scripts[s];
      $.global[run.keyword] = keywordObject(run.parameters);
      $.evalFile(new File(run.path));
    }
    if (settings.saveProject) { app.project.save(new File(settings.project)); }
    report(true, '');
  } catch (error) {
    var where = '';
    if (error && error.line) {
      var file = error.fileName ? String(error.fileName).split(/[\\\/]/).pop() : '';
      where = ' (line ' + error.line + (file ? ' of ' + file : '') + ')';
    }
    report(false, String(error) + where);
  } finally {
    app.endSuppressDialogs(false);
  }
})
"""


def wrapper_source(
    *,
    project: Path | str,
    result_file: Path | str,
    scripts: Sequence[ScriptRun],
    footage: Sequence[FootageReplacement] = (),
    open_and_save: bool = True,
) -> str:
    """Return the wrapper's text; see the module text for what it does."""
    settings = {
        "project": str(project),
        "resultFile": str(result_file),
        "openProject": open_and_save,
        "saveProject": open_and_save,
        "footage": [
            {
                "path": entry.path,
                "layerName": entry.layer_name,
                "layerIndex": entry.layer_index,
                "composition": entry.composition,
                "sequence": entry.sequence,
            }
            for entry in footage
        ],
        "scripts": [
            {"path": str(run.path), "keyword": run.keyword, "parameters": run.parameters or {}}
            for run in scripts
        ],
    }
    literal = json.dumps(settings, ensure_ascii=True, indent=1)
    return (
        "// Generated by aefarm: every value is in the JSON literal below.\n"
        + _BODY.strip()
        + "("
        + literal
        + ");\n"
    )


def write_wrapper(directory: Path, **options: Any) -> tuple[Path, Path]:
    """Write the wrapper into directory; return its path and the result file's path."""
    wrapper = directory / WRAPPER_NAME
    result = directory / RESULT_NAME
    with contextlib.suppress(FileNotFoundError):
        result.unlink()
    wrapper.write_text(wrapper_source(result_file=result, **options), encoding="utf-8")
    return wrapper, result


def read_result(result: Path, runner: str) -> None:
    """Raise LeaseFailure(script_failed) unless the wrapper reported success in result."""
    try:
        outcome = json.loads(result.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LeaseFailure(
            "script_failed",
            f"the script runner {runner} did not run the scripts: {result} was never written. "
            + _not_run_hint(runner),
        ) from None
    except ValueError as error:
        raise LeaseFailure(
            "script_failed", f"the script result {result} is not JSON: {error}"
        ) from error
    if not outcome.get("ok"):
        raise LeaseFailure("script_failed", f"a script failed: {outcome.get('error', '')}")


def _not_run_hint(runner: str) -> str:
    if runner == "patched-aerender":
        return (
            "aerender runs -r scripts only when its commandLineRenderer.jsx is patched "
            "(see docs/assets.md), and the simulator runs them only when it finds Node.js"
        )
    return "check that After Effects is running as this agent's user and can run scripts"


def afterfx_command(program: AfterFxProgram, wrapper: Path) -> list[str]:
    """Return the command that makes After Effects run wrapper.

    On macOS program is the application name, such as `Adobe After Effects 2026`, and the
    script path travels inside an AppleScript string with its quotes and backslashes escaped.
    A tuple is a whole command on every platform.
    """
    if isinstance(program, tuple):
        return [*program, "-r", str(wrapper)]
    if sys.platform == "darwin" and not program.endswith(("osascript",)):
        path = str(wrapper).replace("\\", "\\\\").replace('"', '\\"')
        name = program.replace("\\", "\\\\").replace('"', '\\"')
        return ["osascript", "-e", f'tell application "{name}" to DoScriptFile "{path}"']
    return [program, "-r", str(wrapper)]


async def run_with_afterfx(
    program: AfterFxProgram, wrapper: Path, result: Path, timeout: float = DEFAULT_SCRIPT_TIMEOUT
) -> None:
    """Run wrapper in After Effects and wait for its result file."""
    command = afterfx_command(program, wrapper)
    logger.info("running the scripts with %s", command[0])
    try:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
    except OSError as error:
        raise LeaseFailure(
            "script_runner_missing",
            f"cannot start the script runner {command[0]}: {error}; set --afterfx to the "
            "AfterFX program",
        ) from error
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        raise LeaseFailure(
            "script_failed", f"the scripts did not finish within {timeout:g} s"
        ) from None
    if output:
        logger.info("script runner output: %s", output.decode("utf-8", "replace").strip())
    # AfterFX -r may hand the script to a running instance and exit before it finishes.
    while not result.exists() and loop.time() < deadline:
        await asyncio.sleep(0.2)
    read_result(result, "afterfx")


@dataclass(frozen=True)
class PendingScripts:
    """A wrapper that aerender runs with -r during the render; its result is read after."""

    wrapper: Path
    result: Path


async def run_scripts(
    runner: str,
    afterfx: AfterFxProgram,
    timeout: float,
    scripts: Sequence[ScriptRun],
    project: Path,
    workspace: Path,
    *,
    render_follows: bool,
) -> PendingScripts | None:
    """Run the lease's scripts on project, or return what the render must run them with.

    Raises LeaseFailure(script_runner_missing) when this agent has no runner that can.
    """
    if not scripts:
        return None
    names = ", ".join(run.path.name for run in scripts)
    if not runner:
        raise LeaseFailure(
            "script_runner_missing",
            f"the job has script assets ({names}) and this agent has no --script-runner; start "
            "the agent with --script-runner afterfx --afterfx PROGRAM, or --script-runner "
            "patched-aerender when its aerender is patched",
        )
    if runner == "patched-aerender":
        if not render_follows:
            raise LeaseFailure(
                "script_runner_missing",
                f"the scripts ({names}) of a job that returns the project (type aep) need "
                "--script-runner afterfx; patched-aerender runs scripts only during a render",
            )
        wrapper, result = write_wrapper(
            workspace, project=project, scripts=scripts, open_and_save=False
        )
        return PendingScripts(wrapper, result)
    wrapper, result = write_wrapper(workspace, project=project, scripts=scripts)
    await run_with_afterfx(afterfx, wrapper, result, timeout)
    return None
