"""Where the files that travel with cimrca are: notebooks, the HTML template, the prompts.

The project keeps ``notebooks/`` and ``templates/`` at the top level of the repository (the
layout a State or SELPA edits). A wheel carries both inside the package, under
``cimrca/_resources/`` (``pyproject.toml`` maps them there). :func:`resource_root` finds them
with :mod:`importlib.resources` in either place, so a checkout, an editable install and an
installed wheel resolve the same names the same way.

``$CIMRCA_NOTEBOOK_DIR`` overrides the notebooks' folder (a State's own copy of the packet
notebook); ``$CIMRCA_TEMPLATE_DIR`` the templates' folder.
"""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path

from .errors import UsageError

__all__ = [
    "PACKET_NOTEBOOK_NAME",
    "STATE_NOTEBOOK_NAME",
    "TEMPLATE_NAME",
    "PROMPTS_NAME",
    "resource_root",
    "notebook_dir",
    "template_dir",
    "packet_notebook",
    "state_notebook",
    "prompts_path",
]

#: The packet notebook papermill executes once per LEA.
PACKET_NOTEBOOK_NAME = "lea_packet.ipynb"
#: The statewide overview notebook.
STATE_NOTEBOOK_NAME = "state_overview.ipynb"
#: The offline HTML packet template (a folder of ``templates/``).
TEMPLATE_NAME = "packet"
#: The root-cause and action-plan prompts the workbook writes.
PROMPTS_NAME = "root_cause_prompts.yaml"


@functools.lru_cache(maxsize=1)
def resource_root() -> Path:
    """The folder holding ``notebooks/`` and ``templates/``.

    Inside an installed wheel: ``cimrca/_resources``. From a checkout (or an editable
    install): the repository's top level, beside the ``cimrca`` package.
    """
    package = Path(str(resources.files("cimrca")))
    for root in (package / "_resources", package.parent):
        if (root / "notebooks" / PACKET_NOTEBOOK_NAME).is_file():
            return root
    raise UsageError(
        f"cimrca's notebooks were not found (looked in {package / '_resources'} and "
        f"{package.parent}). Reinstall cimrca (`pip install cimrca-*.whl`, or `pip install -e .` "
        "in a checkout)."
    )


def notebook_dir() -> Path:
    """Folder of the packet notebooks: ``$CIMRCA_NOTEBOOK_DIR``, else the shipped ``notebooks/``."""
    env = os.environ.get("CIMRCA_NOTEBOOK_DIR", "")
    return Path(env) if env else resource_root() / "notebooks"


def template_dir() -> Path:
    """Folder of the templates: ``$CIMRCA_TEMPLATE_DIR``, else the shipped ``templates/``."""
    env = os.environ.get("CIMRCA_TEMPLATE_DIR", "")
    return Path(env) if env else resource_root() / "templates"


def packet_notebook() -> Path:
    """The packet notebook (``notebooks/lea_packet.ipynb``)."""
    return notebook_dir() / PACKET_NOTEBOOK_NAME


def state_notebook() -> Path:
    """The state overview notebook (``notebooks/state_overview.ipynb``)."""
    return notebook_dir() / STATE_NOTEBOOK_NAME


def prompts_path() -> Path:
    """The shipped root-cause prompts (``templates/root_cause_prompts.yaml``)."""
    return template_dir() / PROMPTS_NAME
