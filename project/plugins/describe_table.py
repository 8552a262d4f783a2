import pandas as pd
from taskweaver.plugin import register_plugin


@register_plugin
def describe_table(df):
    rows = []
    for column in df.columns:
        values = df[column]
        present = values.dropna()
        rows.append(
            {
                "column": column,
                "dtype": str(values.dtype),
                "missing": int(values.isna().sum()),
                "example": present.iloc[0] if len(present) else None,
            }
        )
    profile = pd.DataFrame(rows)
    profile.attrs["shape"] = df.shape
    return profile
