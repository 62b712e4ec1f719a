from servicekit.migrate import run_env
from services.catalog.models import Base

run_env(Base.metadata)
