"""Import the original ARCHON JSON configs as `ArchitectureSpec`s.

The original format is `{"name": ..., "layers": [[{"type": ..., "model": ..., "model_type": ...}, ...]]}`
(older files wrap a layer as `{"branches": n, "models": [...]}`). The conversion follows what the
original code *did* with each key, not what its name suggests, and reports every difference as a
warning: no key is dropped silently. A config whose architecture breaks a construction rule, or that
uses something with no equivalent here, is refused with an error naming the file, layer and component.

One concept a module: `convert` (a config, a file), `layers` (layer forms and order), `component` (the
keys every component shares), `mappers` (each type's own keys), `models` (model strings), `notes`
(warnings and places), `batch` (directories and their summary), `results` (what comes out).
"""

from __future__ import annotations

from archon_compile.importer.batch import breakdown, config_files, import_paths
from archon_compile.importer.component import UNREAD_KEYS
from archon_compile.importer.convert import RULE_NAMES, convert, import_file
from archon_compile.importer.mappers import TYPES
from archon_compile.importer.models import PROVIDERS, REWARD_MODEL_RANKERS, SELF_HOSTED
from archon_compile.importer.results import ArchonImportError, ImportOutcome, ImportResult

__all__ = [
    "PROVIDERS",
    "REWARD_MODEL_RANKERS",
    "RULE_NAMES",
    "SELF_HOSTED",
    "TYPES",
    "UNREAD_KEYS",
    "ArchonImportError",
    "ImportOutcome",
    "ImportResult",
    "breakdown",
    "config_files",
    "convert",
    "import_file",
    "import_paths",
]
