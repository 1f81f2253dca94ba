"""Arrow schemas of the tables the generator writes, derived from ``features.contract``.

Deriving them (rather than spelling them out) keeps the written files and the contract in
step: a column added to the contract changes the schema here, and a generator that does not
fill it fails loudly when it builds its table.
"""

from __future__ import annotations

import pyarrow as pa

from features.contract import ROLES, TABLE_COLUMNS

ARROW_TYPES: dict[str, pa.DataType] = {
    "id": pa.string(),
    "string": pa.string(),
    "date": pa.date32(),
    "float": pa.float64(),
}

ROLE_NAMES: tuple[str, ...] = ROLES  # role codes of the population module index this

GROUND_TRUTH = "ground_truth"


def contract_schema(table: str) -> pa.Schema:
    """Arrow schema of a contract table: column order, types and nullability."""
    return pa.schema(
        [
            pa.field(column.name, ARROW_TYPES[column.kind], nullable=column.nullable)
            for column in TABLE_COLUMNS[table]
        ]
    )


SCHEMAS: dict[str, pa.Schema] = {table: contract_schema(table) for table in TABLE_COLUMNS}
SCHEMAS[GROUND_TRUTH] = pa.schema(
    [
        pa.field("family_id", pa.string(), nullable=False),
        pa.field("as_of", pa.date32(), nullable=False),
        pa.field("true_probability", pa.float64(), nullable=False),
        pa.field("occurrence_probability", pa.float64(), nullable=False),
        pa.field("latent_vulnerability", pa.float64(), nullable=False),
    ]
)

# With a deployment (``synth --deploy-from``) the truth also says what support does: each
# family's label probability with no support in the window (the ``true_probability``) and
# with support through the whole window, and whether any support fell in the window.
GROUND_TRUTH_DEPLOYED = pa.schema(
    [
        *SCHEMAS[GROUND_TRUTH],
        pa.field("probability_without_support", pa.float64(), nullable=False),
        pa.field("probability_with_support", pa.float64(), nullable=False),
        pa.field("support_in_window", pa.bool_(), nullable=False),
    ]
)
