import services.catalog.enrollment.models  # noqa: F401 - enrollment's tables share this database
from servicekit.migrate import run_env
from services.catalog.models import Base

run_env(Base.metadata)
