CREATE PUBLICATION cdc_shop FOR TABLE public.customers, public.products, public.orders, public.order_items, public.page_views, public.cdc_signals;
