/* An intrusive doubly linked list whose entries are appended in the order
 * they entered some state, so the oldest is always at the front.  The
 * listeners use three of them (lingering, idle keep-alive, request head
 * not complete) to pick the connection to close when the connection limit
 * is reached, in O(1) per event and without scanning.
 *
 * Ownership: the list owns nothing.  A link is embedded in its entry and
 * knows the list it is on, so an entry leaves its list without being
 * told which one. */
#ifndef VPD_AGE_LIST_H
#define VPD_AGE_LIST_H

#include <stddef.h>

typedef struct vpd_age_list vpd_age_list;

typedef struct vpd_age_link {
    struct vpd_age_link *next, *prev;
    vpd_age_list *on; /* NULL: on no list */
} vpd_age_link;

struct vpd_age_list {
    vpd_age_link *head, *tail;
    size_t n;
};

/* Takes the link off its list, if it is on one. */
static inline void
vpd_age_list_remove(vpd_age_link *l)
{
    vpd_age_list *list = l->on;
    if (!list)
        return;
    if (l->prev)
        l->prev->next = l->next;
    else
        list->head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    else
        list->tail = l->prev;
    list->n--;
    l->next = l->prev = NULL;
    l->on = NULL;
}

/* Moves the link to the back of list (the youngest place). */
static inline void
vpd_age_list_append(vpd_age_list *list, vpd_age_link *l)
{
    vpd_age_list_remove(l);
    l->prev = list->tail;
    l->next = NULL;
    if (list->tail)
        list->tail->next = l;
    else
        list->head = l;
    list->tail = l;
    l->on = list;
    list->n++;
}

/* The oldest link, or NULL when the list is empty. */
static inline vpd_age_link *
vpd_age_list_oldest(const vpd_age_list *list)
{
    return list->head;
}

#endif
