"""What the engine knows about the configuration, loaded once per push cycle, pull or drift
repair: the connection, its sync settings and mapping, and what a merge reads from them.

The snapshot is called `Engine` for history's sake: it holds no behaviour, only the
configuration the merge and the writes run under.
"""

from dataclasses import dataclass, field

from adminconfig.models import SalesforceConnection, SyncSettings

from .mapping import MappingSpec
from .mapping_specs import mapping_spec_load
from .merge import SyncField
from .payload import Lookups, Picklists, field_labels, lookups_load, picklists_load, sync_fields


@dataclass
class Engine:
    """What one push cycle or pull knows about the configuration, loaded once."""

    connection: SalesforceConnection
    settings: SyncSettings
    spec: MappingSpec
    lookups: Lookups
    fields: list[SyncField] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    picklists: Picklists = field(default_factory=picklists_load)

    def __post_init__(self) -> None:
        self.fields = sync_fields(self.spec, self.lookups)
        self.labels = field_labels(self.spec)

    @property
    def field_names(self) -> list[str]:
        return [f.salesforce for f in self.fields]


def engine_load(connection: SalesforceConnection, settings: SyncSettings) -> Engine:
    return Engine(
        connection=connection,
        settings=settings,
        spec=mapping_spec_load(connection),
        lookups=lookups_load(),
    )
