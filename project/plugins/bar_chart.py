import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from taskweaver.plugin import Plugin, register_plugin


@register_plugin
class BarChart(Plugin):
    def __call__(self, df, group_column, value_column, title=None):
        totals = df.groupby(group_column)[value_column].sum().sort_values(ascending=False)
        figure, axes = plt.subplots(figsize=(6, 4))
        axes.bar(totals.index.astype(str), totals.values, color=self.config.get("bar_color", "#3b7dd8"))
        axes.set_title(title or "%s per %s" % (value_column, group_column))
        axes.set_ylabel(value_column)
        figure.tight_layout()
        self.ctx.add_artifact(
            "bar_chart",
            "%s_per_%s.png" % (value_column, group_column),
            "chart",
            figure,
            "bar chart of %s per %s" % (value_column, group_column),
        )
        plt.close(figure)
        self.log("info", "charted %d groups" % len(totals))
        return totals
