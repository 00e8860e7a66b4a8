"""Family and data audits (temporary re-export while the audit is split into modules)."""

from wellposed.audit._audit_tmp import *  # noqa: F403
from wellposed.audit._audit_tmp import __all__  # noqa: F401
