# Shipped plugins, one folder each, module name <kind>_<name>.
