"""geoplan: civil-affairs (民政) service-facility planning for Chinese cities."""

__version__ = "0.1.0"
