from taskweaver.plugin import Plugin, register_plugin


@register_plugin
class ExchangeRate(Plugin):
    def __call__(self, amount, from_currency, to_currency):
        rates = self.config["rates_per_eur"]
        for currency in (from_currency, to_currency):
            if currency not in rates:
                raise ValueError("unknown currency %r; use one of %s" % (currency, ", ".join(rates)))
        return round(float(amount) / rates[from_currency] * rates[to_currency], 2)
